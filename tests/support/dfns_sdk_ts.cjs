// A full webhook lifecycle through the official TypeScript SDK (@dfns/sdk with
// @dfns/sdk-keysigner), against the emulator. Run by tests/test_official_sdk.py with
// NODE_PATH pointing at an npm cache; reads {apiUrl, authToken, credentialId,
// privateKeyFile, receiverUrl} as JSON on stdin and prints one JSON result line.
'use strict'
const fs = require('node:fs')
const { DfnsApiClient } = require('@dfns/sdk')
const { AsymmetricKeySigner } = require('@dfns/sdk-keysigner')

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'))
  const signer = new AsymmetricKeySigner({
    credId: input.credentialId,
    privateKey: fs.readFileSync(input.privateKeyFile, 'utf8'),
  })
  const dfns = new DfnsApiClient({ baseUrl: input.apiUrl, authToken: input.authToken, signer })
  const created = await dfns.webhooks.createWebhook({
    body: { url: input.receiverUrl, events: ['wallet.created'], description: 'Zürich — 東京 ✓' },
  })
  const webhookId = created.id
  const unchanged = await dfns.webhooks.updateWebhook({ webhookId, body: {} })
  const updated = await dfns.webhooks.updateWebhook({
    webhookId,
    body: { description: 'naïve café', status: 'Enabled' },
  })
  const pinged = await dfns.webhooks.pingWebhook({ webhookId })
  const fetched = await dfns.webhooks.getWebhook({ webhookId })
  const deleted = await dfns.webhooks.deleteWebhook({ webhookId })
  let refusal = null
  try {
    await dfns.webhooks.createWebhook({ body: { url: input.receiverUrl, events: [] } })
  } catch (err) {
    refusal = { httpStatus: err.httpStatus ?? null, message: String(err.message) }
  }
  process.stdout.write(
    JSON.stringify({ created, unchanged, updated, pinged, fetched, deleted, refusal }) + '\n',
  )
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }) + '\n')
  process.exit(1)
})
