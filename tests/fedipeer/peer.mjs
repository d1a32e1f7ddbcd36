// An independent ActivityPub server built on Fedify: the other end of tests/test_fediverse_peer.py.
//
// It has one account, alice, on http://127.0.0.1:<port>. The test drives it through
// POST /control/follow?handle=acct:NAME@HOST, /control/unfollow?handle=… and /control/lookup?url=…; Fedify
// resolves the handle by WebFinger, fetches the actor and sends a signed Follow (or
// Undo) with its own code. Everything alice's inbox receives — after Fedify verified
// the HTTP signature with its own code and the sender's key it fetched — is written
// to stdout as one JSON line per activity, which the test reads.
import http from "node:http";
import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
} from "@fedify/fedify";
import {
  Accept,
  Announce,
  Create,
  Delete,
  Endpoints,
  Follow,
  Person,
  Reject,
  Undo,
  Update,
} from "@fedify/vocab";

const emit = (record) => process.stdout.write(JSON.stringify(record) + "\n");
// Two accounts, each with an RSA key: what Mastodon (and feeds) verify.
const keys = {
  alice: await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"),
  bob: await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"),
};

const federation = createFederation({
  kv: new MemoryKvStore(),
  // Everything here is on 127.0.0.1.
  allowPrivateAddress: true,
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (!(identifier in keys)) return null;
    const pairs = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: `${identifier} (a Fedify peer)`,
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: pairs[0].cryptographicKey,
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) =>
    identifier in keys ? [keys[identifier]] : []
  );

async function describe(activity, ctx) {
  let object = null;
  try {
    object = await activity.getObject({ documentLoader: ctx.documentLoader });
  } catch (error) {
    object = null;
    emit({ event: "object_error", error: String(error) });
  }
  return {
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    objectId: activity.objectId?.href ?? object?.id?.href ?? null,
    objectType: object?.constructor?.name ?? null,
    name: object?.name?.toString() ?? null,
    url: object?.url?.href ?? null,
    content: object?.content?.toString() ?? null,
  };
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, async (ctx, a) => emit({ event: "accept", to: ctx.recipient, ...(await describe(a, ctx)) }))
  .on(Reject, async (ctx, a) => emit({ event: "reject", ...(await describe(a, ctx)) }))
  .on(Create, async (ctx, a) => emit({ event: "create", ...(await describe(a, ctx)) }))
  .on(Update, async (ctx, a) => emit({ event: "update", ...(await describe(a, ctx)) }))
  .on(Delete, async (ctx, a) => emit({ event: "delete", id: a.id?.href, actor: a.actorId?.href, objectId: a.objectId?.href }))
  .on(Announce, async (ctx, a) => emit({ event: "announce", ...(await describe(a, ctx)) }))
  .onError((_ctx, error) => emit({ event: "inbox_error", error: String(error) }));

let follows = 0;
const following = new Map();

async function control(request, url, base) {
  const ctx = federation.createContext(new URL(base), undefined);
  const handle = url.searchParams.get("handle");
  const who = url.searchParams.get("as") ?? "alice";
  if (url.pathname === "/control/follow") {
    const target = await ctx.lookupObject(handle);
    if (target == null || target.id == null) return Response.json({ error: "not found" }, { status: 404 });
    const follow = new Follow({
      id: new URL(`${base}/follows/${++follows}`),
      actor: ctx.getActorUri(who),
      object: target.id,
    });
    await ctx.sendActivity({ identifier: who }, target, follow);
    following.set(`${who} ${handle}`, { target, follow });
    return Response.json({ actor: target.id.href, inbox: target.inboxId?.href ?? null, follow: follow.id.href });
  }
  if (url.pathname === "/control/unfollow") {
    const known = following.get(`${who} ${handle}`);
    if (known == null) return Response.json({ error: "not following" }, { status: 404 });
    const undo = new Undo({ id: new URL(`${known.follow.id.href}#undo`), actor: ctx.getActorUri(who), object: known.follow });
    await ctx.sendActivity({ identifier: who }, known.target, undo);
    following.delete(`${who} ${handle}`);
    return Response.json({ undone: known.follow.id.href });
  }
  if (url.pathname === "/control/lookup") {
    // What a search box does with a pasted URL: Fedify's own content negotiation (and <link rel="alternate">).
    const found = await ctx.lookupObject(url.searchParams.get("url"));
    if (found == null) return Response.json({ error: "not found" }, { status: 404 });
    return Response.json({ id: found.id?.href ?? null, type: found.constructor.name, name: found.name?.toString() ?? null });
  }
  return new Response("unknown control", { status: 404 });
}

const server = http.createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const base = `http://${req.headers.host}`;
    const url = new URL(req.url, base);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (Array.isArray(value)) value.forEach((v) => headers.append(name, v));
      else if (value != null) headers.set(name, value);
    }
    const hasBody = !["GET", "HEAD"].includes(req.method);
    const request = new Request(url, { method: req.method, headers, body: hasBody ? Buffer.concat(chunks) : undefined });
    const response = url.pathname.startsWith("/control/")
      ? await control(request, url, base)
      : await federation.fetch(request, {
        contextData: undefined,
        onNotFound: () => new Response("not found", { status: 404 }),
        onNotAcceptable: () => new Response("not acceptable", { status: 406 }),
      });
    if (!url.pathname.startsWith("/control/") && hasBody) {
      emit({ event: "http", method: req.method, path: url.pathname, status: response.status });
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    emit({ event: "error", error: String(error?.stack ?? error) });
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(error));
  }
});

server.listen(Number(process.env.PEER_PORT ?? 0), "127.0.0.1", () => {
  emit({ event: "ready", port: server.address().port });
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
