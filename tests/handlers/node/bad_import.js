const missing = require("missing-pkg");
exports.handler = async () => missing;
