// The app against a served fake on a virtual clock: `civitai-mock serve --clock virtual --memory --port 0`,
// started here (CIVITAI_MOCK_CLI names the executable; default `civitai-mock` on PATH). The app's sleep
// advances the fake's clock over HTTP, so every "3-minute" job takes milliseconds and runs the same way
// every time. Tests run one after another (expire-next is fake-wide), each tenant its own token.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { generateVideo, isMp4 } from "../dist/app.mjs";

const CLI = process.env.CIVITAI_MOCK_CLI || "civitai-mock";
const BANNER = /^civitai-mock \S+ on (http:\/\/\S+)/m;
let server;
let baseUrl;
const tokensUsed = [];

/** Start the fake and resolve with its URL, read from the banner it prints once the socket is bound. */
function startFake() {
  // flags win over CIVITAI_MOCK_* variables, but a stray CIVITAI_MOCK_SCENARIO would preload state: drop them all
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("CIVITAI_MOCK_")));
  const child = spawn(CLI, ["serve", "--clock", "virtual", "--memory", "--port", "0", "--log-level", "warning"],
                      { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  return new Promise((resolve, reject) => {
    const fail = (why) => { child.kill("SIGKILL"); reject(new Error(`${CLI} serve: ${why}\n${stdout}${stderr}`)); };
    const timer = setTimeout(() => fail("no banner within 30 s"), 30_000);
    child.on("error", (error) => { clearTimeout(timer); reject(new Error(`cannot run ${CLI} (set CIVITAI_MOCK_CLI): ${error.message}`)); });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${CLI} serve exited (${code})\n${stdout}${stderr}`)); });
    child.stderr.on("data", (chunk) => { stderr = (stderr + chunk).slice(-4000); });
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = BANNER.exec(stdout);
      if (match) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({ child, url: match[1] });
      }
    });
  });
}

/** A call to the fake's control API (no token needed on loopback); the parsed JSON answer. */
async function control(method, path, body) {
  const response = await fetch(`${baseUrl}${path}`, {
    method, headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path} -> HTTP ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The app's sleep: move the fake's virtual clock; it answers after everything due has happened. */
const advance = (seconds) => control("POST", "/_mock/clock/advance", { seconds });

/** Run the app as a tenant of its own on the virtual clock. */
function runApp(token, prompt = "a lighthouse in a storm") {
  tokensUsed.push(token);
  return generateVideo({ baseUrl, token, prompt, sleep: advance });
}

before(async () => {
  server = await startFake();
  baseUrl = server.url;
  assert.equal((await control("GET", "/_mock/clock")).clock, "virtual");
});

after(async () => {
  if (!server) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  server.child.kill("SIGTERM");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
});

test("success: the app polls to succeeded and downloads a real MP4", async () => {
  const result = await runApp("node-success");
  assert.equal(result.status, "succeeded");
  assert.equal(result.reason, null);
  assert.ok(result.polls >= 2, `a Kling job takes minutes: expected several polls, got ${result.polls}`);
  assert.ok(isMp4(result.video), "the bytes start with an ftyp box");
  assert.deepEqual(result.blobFetches.map((fetch) => fetch.status), [200]);
  assert.ok(result.blobFetches[0].url.startsWith(`${baseUrl}/v2/consumer/blobs/`), result.blobFetches[0].url);
});

test("failure: a queued no_provider_available outcome is reported as failed with that reason", async () => {
  await control("POST", "/_mock/outcomes", { token: "node-failure", outcomes: [{ kind: "fail", reason: "no_provider_available" }] });
  const result = await runApp("node-failure");
  assert.equal(result.status, "failed");
  assert.equal(result.reason, "no_provider_available");
  assert.equal(result.video, null);
  assert.deepEqual(result.blobFetches, []);
});

test("expired URL: a 403 is answered with RefreshBlob, then the fresh URL gives the video", async () => {
  await control("POST", "/_mock/urls/expire-next", { count: 1 });
  const result = await runApp("node-expired");
  assert.equal(result.status, "succeeded");
  const [dead, fresh] = result.blobFetches;
  assert.deepEqual(result.blobFetches.map((fetch) => fetch.status), [403, 200]);
  assert.notEqual(fresh.url, dead.url, "the fresh URL is a new signature");
  assert.equal(new URL(fresh.url).pathname, new URL(dead.url).pathname, "for the same blob");
  assert.equal(result.refreshes, 1);
  assert.ok(isMp4(result.video), "the bytes start with an ftyp box");
});

test("clean lint: the fake's client linter finds no broken rule in the app's traffic", async () => {
  const result = await runApp("node-lint", "a red fox in the snow");
  assert.equal(result.status, "succeeded");
  for (const token of tokensUsed) {
    const report = await control("GET", `/_mock/lint?token=${encodeURIComponent(token)}&strict=true`);
    assert.equal(report.conforms, true, `${token}: ${report.text}`);
    assert.equal(report.errors, 0, `${token}: ${report.text}`);
    assert.equal(report.advisories, 0, `${token}: ${report.text}`);
  }
});
