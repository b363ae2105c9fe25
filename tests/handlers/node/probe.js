// The sandbox probes of tests/test_sandbox_runtimes.py: each op tries one
// thing a handler should not be able to do (or should be limited in) and
// answers "ok" or the errno's name, as tests/handlers/go/probe.go does.
const fs = require("fs");
const net = require("net");
const { spawn } = require("child_process");

const failure = (e) => e.code || String(e);

const ops = {
  read: ({ arg }) => {
    const fd = fs.openSync(arg, "r");
    try {
      fs.readSync(fd, Buffer.alloc(1));
    } finally {
      fs.closeSync(fd);
    }
    return "ok";
  },
  kill: ({ n }) => (process.kill(n, 0), "ok"),
  pids: () => fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).sort((a, b) => a - b),
  ls: ({ arg }) => fs.readdirSync(arg).sort(),
  write: ({ arg }) => (fs.writeFileSync(arg, "x"), "ok"),
  // 8 MB blocks until the file system refuses (at most 600 MB): [MB written, errno]
  fill: ({ arg }) => {
    const fd = fs.openSync(arg, "w");
    const block = Buffer.alloc(8 << 20);
    let written = 0;
    let why = null;
    try {
      while (written < 600 << 20) written += fs.writeSync(fd, block);
    } catch (e) {
      why = failure(e);
    } finally {
      fs.closeSync(fd);
      fs.unlinkSync(arg);
    }
    return [written >> 20, why];
  },
  // descriptors opened before the limit (at most 2000): [count, errno]
  nofile: () => {
    const fds = [];
    let why = null;
    try {
      while (fds.length < 2000) fds.push(fs.openSync("/dev/null", "r"));
    } catch (e) {
      why = failure(e);
    }
    fds.forEach((fd) => fs.closeSync(fd));
    return [fds.length, why];
  },
  connect: ({ n }) =>
    new Promise((resolve) => {
      const sock = net.connect(n, "127.0.0.1");
      sock.on("connect", () => (sock.destroy(), resolve("ok")));
      sock.on("error", (e) => resolve(failure(e)));
    }),
  // sleep (for ``arg`` seconds, a number that tells it apart) in a session of its own, as a daemon would
  spawn: ({ arg }) => (spawn("sleep", [arg], { detached: true, stdio: "ignore" }).unref(), "ok"),
  env: ({ arg }) => process.env[arg] || "",
  // a field of /proc/self/status (CapEff, NoNewPrivs ...)
  status: ({ arg }) =>
    fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(`${arg}:`)).split(":")[1].trim(),
};

exports.handler = async (event) => {
  try {
    return await ops[event.op](event);
  } catch (e) {
    return failure(e);
  }
};
