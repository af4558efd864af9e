// An Express app behind a reverse proxy: it takes the end user's IP from req.ip and
// forwards it with each login. TRUSTED_PROXY is your proxy's address or CIDR (several:
// comma-separated), e.g. "10.0.0.5" or "10.0.0.0/24".
import { BlockList } from "node:net";

import express from "express";

import { login } from "./node-login.mjs";

const app = express();
// Trust exactly your proxy: req.ip is then the right-most X-Forwarded-For hop that is not
// it. Never `true`: that takes the left-most hop, which the user writes.
app.set("trust proxy", process.env.TRUSTED_PROXY);
app.use(express.urlencoded({ extended: false }));

// Addresses no end user on the internet has: seeing one in req.ip means a proxy in front
// of the app is missing from TRUSTED_PROXY (drop ranges your real users come from).
const notEndUsers = new BlockList();
for (const [network, prefix] of [
    ["127.0.0.0", 8], ["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16],
    ["169.254.0.0", 16], ["100.64.0.0", 10], ["::1", 128], ["fc00::", 7], ["fe80::", 10],
]) {
    notEndUsers.addSubnet(network, prefix, network.includes(":") ? "ipv6" : "ipv4");
}

app.post("/login", async (req, res) => {
    const endUserIp = req.ip;
    if (!endUserIp || notEndUsers.check(endUserIp, endUserIp.includes(":") ? "ipv6" : "ipv4")) {
        console.error(`not an end user's address: ${endUserIp}; check TRUSTED_PROXY`);
        return res.status(500).json({ message: "Sign-in is unavailable. Please try later." });
    }
    const { username, password } = req.body ?? {};
    if (typeof username !== "string" || typeof password !== "string") {
        return res.status(400).json({ message: "Enter your email and password." });
    }
    // Express 5 hands a rejection (passgate unreachable, misconfigured) to its error handler.
    const result = await login(username, password, endUserIp);
    if (!result.ok) {
        if (result.retryAfter) {
            res.set("Retry-After", String(result.retryAfter));
        }
        return res.status(result.status).json({ message: result.message });
    }
    // Keep the tokens on the server (in the session); the browser gets a cookie.
    return res.json({ message: "Signed in." });
});

const port = Number(process.env.PORT ?? 3000);
app.listen(port, process.env.HOST ?? "0.0.0.0", () => console.log(`listening on ${port}`));
