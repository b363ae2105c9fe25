// Node.js fixtures of the runtime tests (CommonJS).
const state = { inits: 0, calls: 0 };
state.inits += 1;

exports.counts = async () => {
  state.calls += 1;
  return { inits: state.inits, calls: state.calls };
};

exports.context = async (event, context) => {
  console.log("hello", { a: 1 });
  console.warn("careful\nnow");
  console.error("bad");
  return {
    event,
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
    invokedFunctionArn: context.invokedFunctionArn,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(),
    waits: context.callbackWaitsForEmptyEventLoop,
    clientContext: context.clientContext || null,
    trace: process.env._X_AMZN_TRACE_ID,
    runtimeApi: process.env.AWS_LAMBDA_RUNTIME_API,
    executionEnv: process.env.AWS_EXECUTION_ENV,
    tz: process.env.TZ,
  };
};

exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { late: event }), 20);
};

exports.callbackError = (event, context, callback) => {
  callback(new Error("cb fail"));
};

exports.callbackWaits = (event, context, callback) => {
  let ticked = false;
  setTimeout(() => { ticked = true; console.log("timer ran"); }, 30);
  callback(null, "answered");
};

exports.sync = (event) => event;
exports.nothing = async () => undefined;

exports.raises = async () => {
  class ValidationError extends Error { constructor(m) { super(m); this.name = "ValidationError"; } }
  throw new ValidationError("bad input");
};
exports.throwsString = async () => { throw "just a string"; };
exports.sleeps = async () => { console.log("going to sleep"); await new Promise((r) => setTimeout(r, 60000)); };
exports.exits = async () => { process.exit(3); };
exports.sigkill = async () => { process.kill(process.pid, "SIGKILL"); };
exports.segv = async () => { process.kill(process.pid, "SIGSEGV"); await new Promise((r) => setTimeout(r, 5000)); };
exports.hog = async () => { const b = Buffer.alloc(300 * 1024 * 1024, 1); return b.length; };
exports.big = async () => "x".repeat(7000000);
exports.nonjson = async () => ({ n: 10n });

exports.records = async (event) => {
  console.log("batch of", event.Records.length);
  return { bodies: event.Records.map((r) => r.body) };
};

exports.throwsLater = async () => {
  setTimeout(() => { throw new TypeError("from a timer"); }, 5);
  await new Promise((r) => setTimeout(r, 1000));
};
