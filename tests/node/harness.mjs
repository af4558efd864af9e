// What every SDK scenario script shares. passgate's Python tests (tests/node_sdk.py) run
// `node tests/node/<script>.mjs` with:
//   AUTH0_DOMAIN         the server's host:port, as an Auth0 tenant's domain (https only)
//   SCENARIO_INPUT       one JSON object: credentials, identifiers, whatever the script needs
//   NODE_EXTRA_CA_CERTS  the test CA that issued the server's certificate
// and read one JSON document from stdout. A script ends with exit status 0 whenever the SDK
// answered, even with an error (that is a result to check); anything else is a failure
// whose stack goes to stderr.

/** Run `scenario({ domain, input })` and print what it returns as JSON. */
export async function run(scenario) {
    const domain = process.env.AUTH0_DOMAIN;
    if (!domain) {
        throw new Error("AUTH0_DOMAIN is not set");
    }
    const input = JSON.parse(process.env.SCENARIO_INPUT ?? "{}");
    try {
        const result = await scenario({ domain, input });
        process.stdout.write(JSON.stringify(result) + "\n");
    } catch (error) {
        console.error(error);
        process.exitCode = 1;
    }
}

/**
 * The outcome of one SDK call: `{ ok: true, status, data }`, or, when the SDK threw an
 * error carrying an HTTP answer, `{ ok: false, name, statusCode, error, error_description,
 * message, body }` (`body` parsed as JSON when it is). Any other error is rethrown: the
 * script fails. `status` is known for the legacy AuthenticationClient's answers and for a
 * ManagementClient call made with `.withRawResponse()`; it is null for a plain one.
 */
export async function outcome(call) {
    try {
        return { ok: true, ...answered(await call) };
    } catch (error) {
        const statusCode = error?.statusCode ?? error?.status;
        if (statusCode === undefined) {
            throw error;
        }
        return {
            ok: false,
            name: error.name,
            statusCode,
            error: error.error ?? null,
            error_description: error.error_description ?? null,
            message: error.message,
            body: parseBody(error.body),
        };
    }
}

function parseBody(body) {
    if (typeof body !== "string") {
        return body ?? null;
    }
    try {
        return JSON.parse(body);
    } catch {
        return body;
    }
}

function answered(response) {
    if (response !== null && typeof response === "object") {
        if ("rawResponse" in response) {
            // ManagementClient: `await client.x.y(...).withRawResponse()`
            return { status: response.rawResponse.status, data: response.data ?? null };
        }
        if ("statusText" in response && "headers" in response) {
            // auth0/legacy: JSONApiResponse { data, headers, status } or VoidApiResponse
            return { status: response.status, data: response.data ?? null };
        }
    }
    return { status: null, data: response ?? null };
}
