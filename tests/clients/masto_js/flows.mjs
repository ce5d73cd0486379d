// masto.js (npm `masto`) driving a Roost server, flow by flow, the way a JavaScript
// client would. tests/clients/test_masto_js.py runs it against a real server:
//
//   node flows.mjs --url URL --token TOKEN --other-token TOKEN2 --image PATH [flow ...]
//
// TOKEN is the user under test, TOKEN2 a second account that likes and mentions it.
// Each flow prints one JSON line: {"flow": name, "ok": true, ...what it saw} or
// {"flow": name, "ok": false, "error": "..."}. With no flow named, all of them run.
// What the server does after a write (notifications, streaming) comes a moment
// later, so those flows poll or wait, up to WAIT_MS.

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { createRestAPIClient, createStreamingAPIClient } from "masto";

const WAIT_MS = 15_000;
const POLL_MS = 100;

const { values: options, positionals: wanted } = parseArgs({
  options: {
    url: { type: "string" },
    token: { type: "string" },
    "other-token": { type: "string" },
    image: { type: "string" },
  },
  allowPositionals: true,
});
for (const name of ["url", "token", "other-token"]) {
  if (!options[name]) {
    console.error(`flows.mjs: --${name} is required`);
    process.exit(2);
  }
}

const masto = createRestAPIClient({ url: options.url, accessToken: options.token, timeout: 30_000 });
const other = createRestAPIClient({
  url: options.url,
  accessToken: options["other-token"],
  timeout: 30_000,
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(read, describe) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const found = await read();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${describe}`);
    await sleep(POLL_MS);
  }
}

function unique(text) {
  return `${text} ${Date.now()}-${Math.random().toString(16).slice(2, 8)}`;
}

async function inHome(statusId) {
  return eventually(async () => {
    const page = await masto.v1.timelines.home.list({ limit: 40 });
    return page.find((status) => status.id === statusId);
  }, `status ${statusId} in the home timeline`);
}

const flows = {
  async verify() {
    const me = await masto.v1.accounts.verifyCredentials();
    const instance = await masto.v2.instance.fetch();
    return {
      id: me.id,
      username: me.username,
      acct: me.acct,
      sourcePrivacy: me.source?.privacy,
      version: instance.version,
      streaming: instance.configuration?.urls?.streaming ?? null,
    };
  },

  async home() {
    const text = unique("hello from masto.js");
    const status = await masto.v1.statuses.create({ status: text, visibility: "public" });
    const seen = await inHome(status.id);
    return { statusId: status.id, content: seen.content, accountId: seen.account.id };
  },

  async media() {
    if (!options.image) throw new Error("--image is required for the media flow");
    const bytes = await readFile(options.image);
    const type = options.image.endsWith(".png") ? "image/png" : "image/jpeg";
    let attachment = await masto.v2.media.create({
      file: new Blob([bytes], { type }),
      description: "a test picture",
    });
    const uploaded = { id: attachment.id, urlAtFirst: attachment.url };
    // 202 with url null while it is processed: poll it, as Mastodon's clients do.
    attachment = await eventually(async () => {
      const current = await masto.v1.media.$select(attachment.id).fetch();
      return current.url ? current : null;
    }, `media ${attachment.id} to be processed`);
    const status = await masto.v1.statuses.create({
      status: unique("a picture from masto.js"),
      mediaIds: [attachment.id],
    });
    const seen = await inHome(status.id);
    return {
      ...uploaded,
      type: attachment.type,
      url: attachment.url,
      previewUrl: attachment.previewUrl,
      description: attachment.description,
      statusId: status.id,
      attachmentIds: seen.mediaAttachments.map((m) => m.id),
    };
  },

  async notifications() {
    const me = await masto.v1.accounts.verifyCredentials();
    const mine = await masto.v1.statuses.create({ status: unique("notice me") });
    await other.v1.statuses.$select(mine.id).favourite();
    const friend = await other.v1.accounts.verifyCredentials();
    const mention = await other.v1.statuses.create({ status: unique(`@${me.username} hi`) });
    const wanted = (list) =>
      list.some((n) => n.type === "favourite" && n.status?.id === mine.id) &&
      list.some((n) => n.type === "mention" && n.status?.id === mention.id);
    const list = await eventually(async () => {
      const page = await masto.v1.notifications.list({ limit: 40 });
      return wanted(page) ? page : null;
    }, "the favourite and the mention notifications");
    const favourite = list.find((n) => n.type === "favourite" && n.status?.id === mine.id);
    return {
      statusId: mine.id,
      mentionId: mention.id,
      favouriteFrom: favourite.account.id,
      friendId: friend.id,
      types: [...new Set(list.map((n) => n.type))].sort(),
    };
  },

  async streaming() {
    const instance = await masto.v2.instance.fetch();
    const streamingApiUrl = instance.configuration.urls.streaming;
    const streaming = createStreamingAPIClient({
      streamingApiUrl,
      accessToken: options.token,
      retry: 3,
    });
    await streaming.prepare(); // the socket is open (rejects after `retry` failed attempts)
    const subscription = streaming.user.subscribe();
    const events = subscription[Symbol.asyncIterator]();
    try {
      // The subscription is sent once the socket opens, and nothing tells us when the
      // server has it: post, wait a while for the update, post again if it did not come.
      const posted = [];
      let next = events.next();
      for (let attempt = 1; attempt <= 5; attempt++) {
        const status = await masto.v1.statuses.create({ status: unique("streamed") });
        posted.push(status.id);
        const deadline = Date.now() + 3_000;
        while (Date.now() < deadline) {
          const timer = sleep(deadline - Date.now()).then(() => "timeout");
          const result = await Promise.race([next, timer]);
          if (result === "timeout") break;
          next = events.next();
          if (result.done) throw new Error("the stream ended");
          const event = result.value;
          if (event.event === "update" && posted.includes(event.payload.id)) {
            return {
              streamingApiUrl,
              attempts: attempt,
              stream: event.stream,
              event: event.event,
              statusId: event.payload.id,
              postedId: status.id,
            };
          }
        }
      }
      throw new Error(`no update event for ${posted.join(", ")} on the user stream`);
    } finally {
      subscription.unsubscribe();
      streaming.close();
    }
  },
};

const names = wanted.length ? wanted : Object.keys(flows);
for (const name of names) {
  const flow = flows[name];
  if (!flow) {
    console.error(`flows.mjs: no flow named ${name} (${Object.keys(flows).join(", ")})`);
    process.exit(2);
  }
  try {
    console.log(JSON.stringify({ flow: name, ok: true, ...(await flow()) }));
  } catch (error) {
    const detail = error?.statusCode ? ` (HTTP ${error.statusCode})` : "";
    console.log(JSON.stringify({ flow: name, ok: false, error: `${error}${detail}` }));
  }
}
// A streaming socket left behind would keep node running.
process.exit(0);
