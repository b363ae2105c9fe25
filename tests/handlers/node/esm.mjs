// An ES module handler.
let calls = 0;
export const handler = async (event, context) => {
  calls += 1;
  return { esm: true, calls, id: context.awsRequestId, event };
};
