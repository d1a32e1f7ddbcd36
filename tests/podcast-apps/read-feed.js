// Parse an RSS document with podcast-partytime (the Podcast Index's parser) and print what it read as JSON.
// Usage: node read-feed.js FILE   (tests/test_podcast_feeds.py)
"use strict";
process.env.LOG = process.env.LOG || "silent"; // partytime logs through pino; keep stdout for the JSON
const fs = require("fs");
const { parseFeed } = require("podcast-partytime");

const xml = fs.readFileSync(process.argv[2], "utf8");
const feed = parseFeed(xml, { allowMissingGuid: false });
if (!feed) {
  process.stderr.write("podcast-partytime could not parse the feed\n");
  process.exit(1);
}
delete feed.lastUpdate; // the time of parsing
process.stdout.write(JSON.stringify(feed, null, 1) + "\n");
