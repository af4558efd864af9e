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
//   import    path (a users file), connection_id: import it, wait for the job, its errors;
//             then an export job in CSV
//   connection name, options: find the connection by name, replace its options, read it
import { createReadStream } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

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
    async import(management, input) {
        const created = await outcome(
            management.jobs.usersImports.create({
                users: createReadStream(input.path),
                connection_id: input.connection_id,
                upsert: true,
                send_completion_email: false,
            }),
        );
        let job = created.data;
        for (let tries = 0; created.ok && tries < 200; tries += 1) {
            job = await management.jobs.get(created.data.id);
            if (job.status === "completed" || job.status === "failed") {
                break;
            }
            await sleep(100);
        }
        const errors = created.ok ? await outcome(management.jobs.errors.get(job.id)) : null;
        const exported = await outcome(
            management.jobs.usersExports.create({
                format: "csv",
                fields: [{ name: "email" }, { name: "user_metadata.plan", export_as: "plan" }],
            }),
        );
        return { created, job, errors, exported };
    },
    async connection(management, input) {
        const page = await management.connections.list({ name: input.name });
        const [found] = page.data;
        const updated = await outcome(
            management.connections.update(found.id, { options: input.options }),
        );
        const read = await outcome(management.connections.get(found.id));
        const all = [];
        for await (const item of await management.connections.list({ take: 1 })) {
            all.push(item.name);
        }
        return { found, updated, read, all };
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
