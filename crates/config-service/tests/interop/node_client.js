// Drives the real npm `cloud-config-client` against a config-service and prints what it saw
// as JSON. Usage: node node_client.js ENDPOINT APP PROFILE[,PROFILE] LABEL USER PASSWORD
const path = require("path");
const client = require(path.join(process.env.NODE_MODULES_DIR, "cloud-config-client"));

const [endpoint, name, profiles, label, user, pass] = process.argv.slice(2);

async function main() {
  const config = await client.load({
    endpoint,
    name,
    profiles: profiles.split(","),
    label,
    auth: { user, pass },
  });
  let missingStatus = null;
  try {
    await client.load({ endpoint, name, profiles: ["default"], label: "no-such-label", auth: { user, pass } });
  } catch (error) {
    missingStatus = error.message;
  }
  const object = config.toObject();
  console.log(JSON.stringify({
    p1: config.get("global.params.p1"),
    rate: config.get("billing", "rate"),
    currencies: object.billing.currencies,
    secret: config.get("db.password"),
    missingLabel: missingStatus,
  }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
