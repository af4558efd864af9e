// Password login from a Node.js server with node-auth0, forwarding the end user's IP.
// AUTH0_DOMAIN is passgate's host[:port] (the SDK speaks https only); the client is a
// confidential one whose auth0-forwarded-for header passgate trusts.
import { AuthenticationClient } from "auth0/legacy"; // node-auth0 v4: from "auth0"

const auth = new AuthenticationClient({
    domain: process.env.AUTH0_DOMAIN,
    clientId: process.env.AUTH0_CLIENT_ID,
    clientSecret: process.env.AUTH0_CLIENT_SECRET,
});

/**
 * Log `username` in for the end user at `endUserIp`. Returns `{ ok: true, tokens }`, or
 * `{ ok: false, status, message, retryAfter }`: an HTTP status and a message for the end
 * user (they never tell whether an account exists), and the seconds to wait when known.
 */
export async function login(username, password, endUserIp) {
    try {
        const { data } = await auth.oauth.passwordGrant(
            { username, password, scope: "openid profile email offline_access" },
            { initOverrides: { headers: { "auth0-forwarded-for": endUserIp } } },
        );
        return { ok: true, tokens: data };
    } catch (error) {
        if (error.name !== "AuthApiError" || error.statusCode >= 500) {
            throw error; // passgate unreachable or failing: your error page
        }
        return { ok: false, ...refusal(error) };
    }
}

function refusal({ statusCode, error, error_description, headers }) {
    if (statusCode === 429) {
        // Brute-force block (an unblock link was emailed), suspicious-IP throttling, or
        // too many logins of one user from one IP: all "wait", none says who exists.
        const retryAfter = Number(headers.get("retry-after")) || null;
        const emailed = error_description.startsWith("Your account has been blocked");
        return {
            status: 429,
            retryAfter,
            message: emailed
                ? "Too many failed sign-in attempts. If an account exists for this email, " +
                  "we have sent it instructions to unblock it."
                : "Too many attempts. Please try again later.",
        };
    }
    if (error === "invalid_grant") {
        return { status: 401, message: "Wrong email or password." };
    }
    if (error === "password_leaked") {
        return {
            status: 403,
            message: "This password appeared in a data breach on another site. " +
                "Check your email, or reset your password.",
        };
    }
    if (error === "unauthorized") {
        return { status: 403, message: "This account is disabled. Please contact support." };
    }
    // invalid_client, unauthorized_client, access_denied, invalid_request: the app's
    // configuration is wrong, not the user's input.
    throw new Error(`passgate refused the login: ${statusCode} ${error}`);
}
