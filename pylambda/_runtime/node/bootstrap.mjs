// pylambda's Node.js runtime: the Lambda Runtime API client for nodejs20.x / nodejs22.x.
//
// Shaped like AWS's aws-lambda-ric 3.x (the client behind nodejs20.x and 22.x):
// load the handler named by _HANDLER from LAMBDA_TASK_ROOT before the first
// GET next (a failure is posted to /init/error, then the process exits),
// then loop: GET next, call the handler with Lambda's context, POST the
// response or the error.  Node's built-in http with one keep-alive socket
// (measured as fast as AWS's native client, twice as fast as fetch).
// console.* lines take Lambda's form: <ISO time>\t<request id>\t<LEVEL>\t<message>.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import util from "node:util";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const BASE = "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const HANDLER = process.env._HANDLER || "index.handler";

let currentId = undefined;  // "undefined" in init lines, as aws-lambda-ric 3.x prints

// -- logging ------------------------------------------------------------------
function patchConsole() {
  const levels = { log: "INFO", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG", trace: "TRACE" };
  for (const [name, level] of Object.entries(levels)) {
    console[name] = (...args) => {
      const message = util.format(...args).replace(/\n/g, "\r");
      fs.writeSync(1, `${new Date().toISOString()}\t${currentId}\t${level}\t${message}\n`);
    };
  }
}

// -- HTTP ---------------------------------------------------------------------
function request(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: PORT, path: BASE + urlPath, method, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) {
      req.setHeader("Content-Type", "application/json");
      req.setHeader("Content-Length", Buffer.byteLength(body));
      req.end(body);
    } else {
      req.end();
    }
  });
}

function errorDoc(err) {
  if (err instanceof Error) {
    return { errorType: err.name, errorMessage: err.message, trace: (err.stack || "").split("\n") };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

async function postError(urlPath, doc, errorType) {
  const headers = { "Lambda-Runtime-Function-Error-Type": errorType || doc.errorType };
  return request("POST", urlPath, JSON.stringify(doc), headers);
}

// -- init ---------------------------------------------------------------------
class UserError extends Error {}

function wrapped(name, message, stackFrom) {
  const err = new UserError(message);
  err.name = name;
  if (stackFrom && stackFrom.stack) err.stack = `${name}: ${message}\n${stackFrom.stack.split("\n").slice(1).join("\n")}`;
  return err;
}

function moduleFile(moduleName) {
  const base = path.resolve(TASK_ROOT, moduleName);
  for (const ext of [".js", ".mjs", ".cjs"]) {
    if (fs.existsSync(base + ext)) return base + ext;
  }
  return null;
}

function isEsm(file) {
  if (file.endsWith(".mjs")) return true;
  if (file.endsWith(".cjs")) return false;
  let dir = path.dirname(file);
  for (;;) {  // the nearest package.json decides, as Node's resolver does
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      try { return JSON.parse(fs.readFileSync(pkg, "utf8")).type === "module"; } catch { return false; }
    }
    const up = path.dirname(dir);
    if (up === dir) return false;
    dir = up;
  }
}

async function loadHandler() {
  const dot = HANDLER.lastIndexOf(".");
  const moduleName = dot < 0 ? HANDLER : HANDLER.slice(0, dot);
  const attr = dot < 0 ? "handler" : HANDLER.slice(dot + 1);
  const file = moduleFile(moduleName);
  if (file === null) {
    throw wrapped("Runtime.ImportModuleError", `Error: Cannot find module '${moduleName}'\nRequire stack:\n- ${TASK_ROOT}`);
  }
  let mod;
  try {
    if (isEsm(file)) {
      mod = await import(pathToFileURL(file).href);
    } else {
      mod = createRequire(path.join(TASK_ROOT, "index.js"))(file);
    }
  } catch (err) {
    if (err instanceof SyntaxError) throw wrapped("Runtime.UserCodeSyntaxError", `${err.name}: ${err.message}`, err);
    if (err && err.code === "MODULE_NOT_FOUND") throw wrapped("Runtime.ImportModuleError", `Error: ${err.message}`, err);
    throw err;  // an .mjs's missing package, a top-level throw: reported as is
  }
  let fn = mod;
  for (const part of attr.split(".")) fn = fn == null ? undefined : fn[part];
  if (fn === undefined && mod && mod.default) {
    fn = mod.default;
    for (const part of attr.split(".")) fn = fn == null ? undefined : fn[part];
  }
  if (typeof fn !== "function") {
    throw wrapped("Runtime.HandlerNotFound", `${path.basename(moduleName)}.${attr} is undefined or not exported`);
  }
  return fn;
}

// -- the loop -----------------------------------------------------------------
function makeContext(headers, finish) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  const env = process.env;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: headers["lambda-runtime-client-context"]
      ? JSON.parse(headers["lambda-runtime-client-context"]) : undefined,
    identity: headers["lambda-runtime-cognito-identity"]
      ? JSON.parse(headers["lambda-runtime-cognito-identity"]) : undefined,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    getRemainingTimeInMillis: () => deadline - Date.now(),
    succeed: (result) => finish(null, result),
    fail: (err) => finish(err || new Error("handled")),
    done: (err, result) => finish(err, result),
  };
  return context;
}

async function invokeOnce(handler) {
  const next = await request("GET", "/invocation/next");
  const headers = next.headers;
  const id = headers["lambda-runtime-aws-request-id"];
  currentId = id;
  if (headers["lambda-runtime-trace-id"]) process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"];
  else delete process.env._X_AMZN_TRACE_ID;
  let event;
  try {
    event = JSON.parse(next.body.toString("utf8"));
  } catch (err) {
    await postError(`/invocation/${id}/error`, errorDoc(wrapped("Runtime.UnmarshalError", err.message)));
    return;
  }
  await new Promise((resolve) => {
    let done = false;
    const settle = async (err, result) => {
      if (done) return;
      done = true;
      try {
        if (err !== null && err !== undefined) {
          const doc = errorDoc(err);
          const logged = JSON.stringify({ errorType: doc.errorType, errorMessage: doc.errorMessage, stack: doc.trace });
          console.error(`Invoke Error \t${logged}`);
          await postError(`/invocation/${id}/error`, doc);
        } else {
          let body;
          try {
            body = JSON.stringify(result === undefined ? null : result);
          } catch (e) {
            const doc = errorDoc(wrapped("Runtime.MarshalError", `Unable to stringify response body: ${e.message}`));
            await postError(`/invocation/${id}/error`, doc);
            resolve();
            return;
          }
          await request("POST", `/invocation/${id}/response`, body);
        }
      } catch (e) {
        fs.writeSync(2, `pylambda node runtime: ${e && e.stack}\n`);
        process.exit(1);
      }
      resolve();
    };
    const context = makeContext(headers, (err, result) => settle(err, result));
    const callback = (err, result) => {
      if (context.callbackWaitsForEmptyEventLoop) {
        // Lambda answers once the event loop is empty: pending timers and I/O run first.
        pendingCallback = () => settle(err, result);
      } else {
        settle(err, result);
      }
    };
    try {
      const out = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
      if (handler.length < 3 || (out && typeof out.then === "function")) {
        Promise.resolve(out).then((r) => settle(null, r), (e) => settle(e));
      }
    } catch (err) {
      settle(err);
    }
  });
  currentId = undefined;
}

// callbackWaitsForEmptyEventLoop: the result goes out when the event loop is empty
// ("beforeExit"; the agent's idle keep-alive socket does not hold the loop), as aws-lambda-ric does.
let pendingCallback = null;
process.on("beforeExit", () => {
  const f = pendingCallback;
  pendingCallback = null;
  if (f) f();
});

// An error outside the handler's own promise (a throw in a timer, a rejection nobody awaits) ends
// the runtime, as aws-lambda-ric does: reported as the current invocation's error first.
async function fatal(err, errorType) {
  const doc = errorDoc(err);
  if (errorType) {
    doc.errorType = errorType;
    doc.errorMessage = err instanceof Error ? err.message : String(err);
  }
  console.error(`${errorType ? "Unhandled Promise Rejection" : "Uncaught Exception"} \t${JSON.stringify(doc)}`);
  if (currentId) {
    try { await postError(`/invocation/${currentId}/error`, doc); } catch { /* the host is gone */ }
  }
  process.exit(129);
}

async function main() {
  patchConsole();
  process.on("uncaughtException", (err) => fatal(err));
  process.on("unhandledRejection", (reason) => fatal(reason, "Runtime.UnhandledPromiseRejection"));
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    const doc = errorDoc(err);
    console.error(`${doc.errorType}: ${doc.errorMessage}`);
    try { await postError("/init/error", doc, doc.errorType); } catch { /* the host is gone */ }
    process.exit(129);
  }
  for (;;) await invokeOnce(handler);
}

main();
