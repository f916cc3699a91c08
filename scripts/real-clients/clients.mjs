// Node's built-in fetch and headless Chromium (playwright-core driving /usr/bin/chromium)
// against `rowstream serve`.
//
// Usage: node clients.mjs BASE_URL EXPECTED_ROWS FAILING_PATH
//
// Prints one line per check (`ok ...` or `FAIL ...`) and exits 1 if any check failed.

import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const [BASE, expectedArg, FAILING] = process.argv.slice(2);
const EXPECTED = Number(expectedArg);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
let failures = 0;

function report(ok, client, check, observed) {
  if (!ok) failures += 1;
  console.log(`${ok ? "ok  " : "FAIL"} ${client.padEnd(9)} ${check}: ${observed}`);
}

// Records of an RFC 4180 document, header included: line ends outside quotes.
function countCsvRecords(text) {
  let quoted = false;
  let records = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === "\n" && !quoted) records += 1;
  }
  if (text.length > 0 && !text.endsWith("\n")) records += 1;
  return records;
}

function countNdjson(text) {
  const lines = text.split("\n").filter((line) => line.length > 0);
  lines.forEach((line) => JSON.parse(line));
  return lines.length;
}

// The last complete line of a possibly cut NDJSON body, parsed.
function lastRecord(text) {
  const lines = text.split("\n");
  lines.pop(); // after the last newline: empty, or a cut line
  const last = lines.filter((line) => line.length > 0).pop();
  return last === undefined ? null : JSON.parse(last);
}

function describeError(e) {
  if (!e) return "no error";
  const cause = e.cause ? ` (cause: ${e.cause.code || e.cause.name}: ${e.cause.message})` : "";
  return `${e.name}: ${e.message}${cause}`;
}

function isTimedOutRecord(record) {
  return (
    record !== null &&
    typeof record === "object" &&
    record.$rowstream?.complete === false &&
    record.$rowstream?.error?.kind === "timed_out"
  );
}

// --- Node fetch (undici) ---

async function nodeRead(url, init) {
  const response = await fetch(url, init);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch (e) {
    return { status: response.status, text, error: e };
  }
  return { status: response.status, text, error: null };
}

async function nodeChecks() {
  for (const [format, count] of [
    ["ndjson", countNdjson],
    ["csv", (t) => countCsvRecords(t) - 1],
  ]) {
    const r = await nodeRead(`${BASE}/tables/tickets?format=${format}`);
    const n = count(r.text);
    report(
      r.status === 200 && !r.error && n === EXPECTED,
      "node",
      `complete ${format}`,
      `${n} rows, ${describeError(r.error)} (expected ${EXPECTED})`,
    );
  }
  // The whole body at once, as most code reads it.
  let textError = null;
  try {
    await (await fetch(`${BASE}${FAILING}?format=ndjson`)).text();
  } catch (e) {
    textError = e;
  }
  report(
    textError instanceof TypeError && textError.message === "terminated",
    "node",
    "mid-stream failure, response.text()",
    describeError(textError),
  );
  const cut = await nodeRead(`${BASE}${FAILING}?format=ndjson`);
  const rows = cut.text.split("\n").length - 1;
  report(
    cut.error instanceof TypeError && cut.error.message === "terminated" && rows > 0 && rows < EXPECTED,
    "node",
    "mid-stream failure, reader.read()",
    `rejected after ${rows} rows: ${describeError(cut.error)}`,
  );
  // fetch asks for gzip by default; undici decodes on a pipeline of its own and drops
  // what its decoder still holds when the connection closes, so the server waits a
  // moment (CUT_LINGER) after the last compressed bytes before the cut. Read three
  // times: the record must come through every time.
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const gzipped = await nodeRead(`${BASE}${FAILING}?format=ndjson&complete=true`);
    const gzRecord = lastRecord(gzipped.text);
    const gzRows = gzipped.text.split("\n").length - 1;
    report(
      gzipped.error instanceof TypeError &&
        gzipped.error.message === "terminated" &&
        isTimedOutRecord(gzRecord),
      "node",
      `error record, default Accept-Encoding (gzip), read ${attempt}`,
      `${describeError(gzipped.error)} after ${gzRows} lines; last line read: ${JSON.stringify(
        gzRecord,
      ).slice(0, 120)}`,
    );
  }
  const tagged = await nodeRead(`${BASE}${FAILING}?format=ndjson&complete=true`, {
    headers: { "accept-encoding": "identity" },
  });
  const record = lastRecord(tagged.text);
  report(
    tagged.error instanceof TypeError && isTimedOutRecord(record),
    "node",
    "error record, Accept-Encoding: identity",
    `${describeError(tagged.error)}; last line read: ${JSON.stringify(record)}`,
  );
}

// --- headless Chromium ---

// Runs in the page: reads a URL with fetch and a body reader.
async function pageRead(url) {
  const response = await fetch(url);
  const encoding = response.headers.get("content-encoding") || "identity";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch (e) {
    return { status: response.status, encoding, text, error: `${e.name}: ${e.message}` };
  }
  return { status: response.status, encoding, text, error: null };
}

async function chromiumChecks() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();

    // The index page lists the tables, with a link per format.
    const index = await page.goto(`${BASE}/`);
    const tables = await page.$$eval("table tbody tr td:first-child", (cells) =>
      cells.map((cell) => cell.textContent.trim()),
    );
    report(
      index.status() === 200 && tables.includes("tickets"),
      "chromium",
      "index page",
      `status ${index.status()}, first column: ${JSON.stringify(tables)}`,
    );

    // Clicking the CSV link downloads the whole table.
    const link = page.locator('a[href="tables/tickets?format=csv"]');
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    const downloadPath = await download.path();
    const failure = await download.failure();
    const csv = downloadPath ? await readFile(downloadPath, "utf-8") : "";
    const csvRows = countCsvRecords(csv) - 1;
    const header = csv.slice(0, csv.indexOf("\n"));
    report(
      failure === null && header.startsWith("id,") && csv.endsWith("\n") && csvRows === EXPECTED,
      "chromium",
      "CSV link download",
      `${download.suggestedFilename()}: ${csvRows} rows, download failure: ${failure}`,
    );

    // The slice form of tickets: columns, a filter, an order, a limit, CSV, download.
    // The server turns the fields into the export URL; the saved file must equal the
    // same query run in SQLite (SLICE_EXPECTED, written by real-clients.sh).
    if (process.env.SLICE_EXPECTED) {
      const expected = await readFile(process.env.SLICE_EXPECTED, "utf-8");
      const form = page.locator('form[action="slice"]:has(input[name="table"][value="tickets"])');
      await form.locator("xpath=..").locator("summary").click();
      await form.locator('input[name="select"]').fill("id,priority,status");
      await form.locator('input[name="column"]').fill("priority");
      await form.locator('select[name="op"]').selectOption("gte");
      await form.locator('input[name="value"]').fill("4");
      await form.locator('input[name="order"]').fill("id.desc");
      await form.locator('input[name="limit"]').fill("50");
      await form.locator('select[name="format"]').selectOption("csv");
      const [sliced] = await Promise.all([
        page.waitForEvent("download"),
        form.locator('button[type="submit"]').click(),
      ]);
      const slicedPath = await sliced.path();
      const slicedCsv = slicedPath ? await readFile(slicedPath, "utf-8") : "";
      report(
        (await sliced.failure()) === null &&
          sliced.suggestedFilename() === "tickets.csv" &&
          slicedCsv === expected,
        "chromium",
        "slice form download",
        `${sliced.suggestedFilename()}: ${countCsvRecords(slicedCsv) - 1} rows, equal to SQLite's: ${slicedCsv === expected}`,
      );
      await page.goto(`${BASE}/`);
    }

    // fetch in a page of the same origin. The index page's Content-Security-Policy
    // (default-src 'none') forbids fetch, so run it from /healthz.
    await page.goto(`${BASE}/healthz`);
    for (const [format, count] of [
      ["ndjson", countNdjson],
      ["csv", (t) => countCsvRecords(t) - 1],
    ]) {
      const r = await page.evaluate(pageRead, `${BASE}/tables/tickets?format=${format}`);
      const n = count(r.text);
      report(
        r.status === 200 && !r.error && n === EXPECTED,
        "chromium",
        `complete ${format}`,
        `${n} rows, ${r.error || "no error"} (${r.encoding}; expected ${EXPECTED})`,
      );
    }
    const cut = await page.evaluate(pageRead, `${BASE}${FAILING}?format=ndjson`);
    const rows = cut.text.split("\n").length - 1;
    report(
      cut.error !== null && cut.error.startsWith("TypeError") && rows > 0 && rows < EXPECTED,
      "chromium",
      "mid-stream failure, reader.read()",
      `rejected after ${rows} rows (${cut.encoding}): ${cut.error}`,
    );
    const tagged = await page.evaluate(pageRead, `${BASE}${FAILING}?format=ndjson&complete=true`);
    const record = lastRecord(tagged.text);
    report(
      tagged.error !== null && isTimedOutRecord(record),
      "chromium",
      "error record",
      `${tagged.error} (${tagged.encoding}); last line read: ${JSON.stringify(record)}`,
    );

    // The failing export as a download: Chromium marks it failed.
    await page.goto(`${BASE}/`);
    const failingLink = page.locator(`a[href="${FAILING.replace(/^\//, "")}?format=csv"]`);
    const [cutDownload] = await Promise.all([page.waitForEvent("download"), failingLink.click()]);
    const cutFailure = await cutDownload.failure();
    report(
      cutFailure !== null,
      "chromium",
      "mid-stream failure, CSV link download",
      `download failure: ${cutFailure}`,
    );
  } finally {
    await browser.close();
  }
}

try {
  await nodeChecks();
  await chromiumChecks();
} catch (e) {
  failures += 1;
  console.log(`FAIL node/chromium: ${e.stack || e}`);
}
process.exit(failures ? 1 : 0);
