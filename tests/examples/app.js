// A tiny Node app for the README's live-server example: submits one Kling V3 job with wait=0
// (as the recipe says) and prints the workflow id. Plain fetch, no SDK.
const baseUrl = process.env.CIVITAI_BASE_URL ?? "https://orchestration.civitai.com";
const token = process.env.CIVITAI_TOKEN ?? "the-token-app-js-uses";
const body = { steps: [{ $type: "videoGen", input: { engine: "kling-v3", prompt: "a fox", duration: 5 } }] };
(async () => {
  const response = await fetch(`${baseUrl}/v2/consumer/workflows?wait=0`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status !== 202) throw new Error(`submit answered ${response.status}`);
  console.log((await response.json()).id);
})().catch((error) => { console.error(error); process.exit(1); });
