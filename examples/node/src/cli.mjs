// Run the app by hand:  node dist/cli.mjs [--base-url URL] [--token T] [--out FILE] [--virtual] PROMPT...
//   --virtual  the fake runs `serve --clock virtual`: advance its clock instead of sleeping.
// Prints the outcome as JSON; exits 0 only when the video was downloaded.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { generateVideo, realSleep } from "./app.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "base-url": { type: "string", default: process.env.CIVITAI_BASE_URL ?? "http://127.0.0.1:8400" },
    token: { type: "string", default: process.env.CIVITAI_TOKEN ?? "dev-token" },
    out: { type: "string", default: "video.mp4" },
    duration: { type: "string", default: "5" },
    virtual: { type: "boolean", default: false },
  },
});
const baseUrl = values["base-url"].replace(/\/+$/, "");
const advance = async (seconds) => {
  const response = await fetch(`${baseUrl}/_mock/clock/advance`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ seconds }),
  });
  if (!response.ok) throw new Error(`advance: HTTP ${response.status} ${await response.text()}`);
};

const result = await generateVideo({
  baseUrl, token: values.token, prompt: positionals.join(" ") || "a lighthouse in a storm",
  duration: Number(values.duration), sleep: values.virtual ? advance : realSleep,
  log: (line) => console.error(line),
});
if (result.video) await writeFile(values.out, result.video);
const { video, ...report } = result;
console.log(JSON.stringify({ ...report, videoBytes: video?.length ?? 0, savedTo: video ? values.out : null }, null, 2));
process.exitCode = video ? 0 : 1;
