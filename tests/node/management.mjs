// The Management API through the SDK's ManagementClient (the package's main entry point),
// built from a domain and a token as Auth0's documentation shows: the SDK builds
// https://AUTH0_DOMAIN/api/v2/… itself.
//
// SCENARIO_INPUT: token, step, and what the step needs:
//   settings  brute_force (a PATCH body), suspicious_ip (a PATCH body): read, change, read
//   blocks    identifier: list its blocks, lift them, list again
//   ip        ip: check it, unblock it, check again
//   logs      queries (a list of search strings): the events each finds, newest first
//   client    client_id, trusted (boolean): flip the client's IP-header trust
//   grant     client_id, audience, scope (a list): create a client grant, list it
import { ManagementClient } from "auth0";

import { outcome, run } from "./harness.mjs";

const STEPS = {
    async settings(management, input) {
        const brute = management.attackProtection.bruteForceProtection;
        const throttling = management.attackProtection.suspiciousIpThrottling;
        return {
            before: await outcome(brute.get()),
            brute_force: await outcome(brute.update(input.brute_force)),
            suspicious_ip: await outcome(throttling.update(input.suspicious_ip)),
            after: await outcome(brute.get()),
        };
    },
    async blocks(management, input) {
        const blocks = management.userBlocks;
        return {
            listed: await outcome(blocks.listByIdentifier({ identifier: input.identifier })),
            lifted: await outcome(
                blocks.deleteByIdentifier({ identifier: input.identifier }).withRawResponse(),
            ),
            after: await outcome(blocks.listByIdentifier({ identifier: input.identifier })),
        };
    },
    async ip(management, input) {
        const blocks = management.anomaly.blocks;
        return {
            checked: await outcome(blocks.checkIp(input.ip).withRawResponse()),
            unblocked: await outcome(blocks.unblockIp(input.ip).withRawResponse()),
            after: await outcome(blocks.checkIp(input.ip).withRawResponse()),
        };
    },
    async logs(management, input) {
        const found = {};
        for (const search of input.queries) {
            const page = await management.logs.list({ search, per_page: 20 });
            found[search] = page.data;
        }
        return found;
    },
    async client(management, input) {
        const body = { is_token_endpoint_ip_header_trusted: input.trusted };
        return await outcome(management.clients.update(input.client_id, body));
    },
    async grant(management, input) {
        const created = await outcome(
            management.clientGrants.create({
                client_id: input.client_id,
                audience: input.audience,
                scope: input.scope,
            }),
        );
        const listed = await management.clientGrants.list({ client_id: input.client_id });
        return { created, listed: listed.data };
    },
};

await run(async ({ domain, input }) => {
    const management = new ManagementClient({ domain, token: input.token });
    const step = STEPS[input.step];
    if (step === undefined) {
        throw new Error(`unknown step ${input.step}`);
    }
    return await step(management, input);
});
