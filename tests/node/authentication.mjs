// The Authentication API through the SDK's AuthenticationClient (the `auth0/legacy` entry
// point: v7 of the package ships it there, with the node-auth0 v4 interface). Its grants
// validate every ID token against https://AUTH0_DOMAIN/ (issuer) and the JWKS it serves.
//
// SCENARIO_INPUT: client_id, client_secret, username, password, audience, realm,
// end_user_ip, and machine_client_id, machine_client_secret (a client_credentials client).
import { AuthenticationClient } from "auth0/legacy";

import { outcome, run } from "./harness.mjs";

await run(async ({ domain, input }) => {
    const auth = new AuthenticationClient({
        domain,
        clientId: input.client_id,
        clientSecret: input.client_secret,
    });
    const machine = new AuthenticationClient({
        domain,
        clientId: input.machine_client_id,
        clientSecret: input.machine_client_secret,
    });
    // The SDK's documented way to forward the end user's IP (brute-force protection).
    const forwarded = { initOverrides: { headers: { "auth0-forwarded-for": input.end_user_ip } } };
    const login = { username: input.username, password: input.password, audience: input.audience };
    return {
        password: await outcome(
            auth.oauth.passwordGrant({ ...login, scope: "openid profile email" }, forwarded),
        ),
        password_realm: await outcome(
            auth.oauth.passwordGrant({ ...login, realm: input.realm, scope: "openid" }, forwarded),
        ),
        wrong_password: await outcome(
            auth.oauth.passwordGrant({ ...login, password: `${input.password}!` }, forwarded),
        ),
        client_credentials: await outcome(
            machine.oauth.clientCredentialsGrant({ audience: input.audience }),
        ),
        wrong_secret: await outcome(
            new AuthenticationClient({
                domain,
                clientId: input.machine_client_id,
                clientSecret: `${input.machine_client_secret}x`,
            }).oauth.clientCredentialsGrant({ audience: input.audience }),
        ),
    };
});
