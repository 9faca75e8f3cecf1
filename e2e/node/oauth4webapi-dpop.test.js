// oauth4webapi's DPoP (RFC 9449) against a real `latchkey serve`: a DPoP()
// handle with its own ES256 key pair signs the proofs of the password grant
// (through genericTokenEndpointRequest: oauth4webapi has no password grant
// helper), the refresh grant and a protectedResourceRequest to /auth/me;
// the tokens come as token_type DPoP, bound to the key (cnf.jkt), and are
// refused without it.
//
// e2e/oauth4webapi_test.go runs `node --test oauth4webapi-dpop.test.js`
// here once per server: LATCHKEY_URL, and LATCHKEY_DPOP_NONCE ("on" or
// "off", the server's DPOP_NONCE). With nonces on, the first proof the
// handle signs has none: the server answers use_dpop_nonce with a
// DPoP-Nonce, the handle keeps it, and the request is sent again, as the
// library's documentation says (isDPoPNonceError).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'

const url = process.env.LATCHKEY_URL
if (!url) {
  throw new Error('LATCHKEY_URL is not set: run this through e2e/oauth4webapi_test.go or set it to a running latchkey serve')
}
const nonces = process.env.LATCHKEY_DPOP_NONCE === 'on'

const password = 'correct horse battery staple'
const email = `oauth4webapi-dpop-${process.pid}-${Date.now()}@example.com`
const insecure = { [oauth.allowInsecureRequests]: true }

// retried counts the requests sent again because the server asked for a
// nonce.
let retried = 0

// withNonceRetry runs request (which sends and processes one request) and,
// when it fails for want of a nonce, once more: the handle has cached the
// nonce the answer carried.
async function withNonceRetry(request) {
  try {
    return await request()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) {
      throw err
    }
    retried++
    return request()
  }
}

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
}

test(`oauth4webapi DPoP against Latchkey (DPOP_NONCE=${nonces ? 'on' : 'off'})`, async (t) => {
  const signUp = await fetch(`${url}/auth/sign-up`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  assert.equal(signUp.status, 201, await signUp.text())

  const issuer = new URL(url)
  const as = await oauth.processDiscoveryResponse(issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  const client = { client_id: 'dpop-app' }
  const none = oauth.None()
  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)
  const jkt = await DPoP.calculateThumbprint()

  await t.test('the metadata lists the proof algorithms', () => {
    assert.ok(as.dpop_signing_alg_values_supported?.includes('ES256'), JSON.stringify(as.dpop_signing_alg_values_supported))
  })

  let tokens
  await t.test('the password grant with a proof binds the session to the key', async () => {
    tokens = await withNonceRetry(async () => oauth.processGenericTokenEndpointResponse(as, client,
      await oauth.genericTokenEndpointRequest(as, client, none, 'password', { username: email, password }, { DPoP, ...insecure })))
    assert.equal(tokens.token_type, 'dpop')
    assert.equal(claims(tokens.access_token).cnf?.jkt, jkt)
    assert.equal(retried, nonces ? 1 : 0, 'with nonces on, the first proof (without one) is refused once')
  })

  await t.test('the refresh with the same handle stays bound', async () => {
    const next = await withNonceRetry(async () => oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, none, tokens.refresh_token, { DPoP, ...insecure })))
    assert.equal(next.token_type, 'dpop')
    assert.equal(claims(next.access_token).cnf?.jkt, jkt)
    assert.ok(next.refresh_token && next.refresh_token !== tokens.refresh_token)
    tokens = next
  })

  await t.test('the refresh token without the key is refused, and the session lives on', async () => {
    await assert.rejects(
      oauth.refreshTokenGrantRequest(as, client, none, tokens.refresh_token, insecure)
        .then((resp) => oauth.processRefreshTokenResponse(as, client, resp)),
      (err) => {
        assert.ok(err instanceof oauth.ResponseBodyError, `not a ResponseBodyError: ${err}`)
        assert.equal(err.status, 400)
        assert.equal(err.error, 'invalid_dpop_proof')
        return true
      })
    const other = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
    await assert.rejects(
      withNonceRetry(async () => oauth.processRefreshTokenResponse(as, client,
        await oauth.refreshTokenGrantRequest(as, client, none, tokens.refresh_token, { DPoP: other, ...insecure }))),
      (err) => err instanceof oauth.ResponseBodyError && err.error === 'invalid_dpop_proof')
  })

  await t.test('protectedResourceRequest to /auth/me', async () => {
    const me = new URL(`${url}/auth/me`)
    const resp = await withNonceRetry(() => oauth.protectedResourceRequest(tokens.access_token, 'GET', me, new Headers(), null,
      { DPoP, ...insecure }))
    assert.equal(resp.status, 200)
    assert.equal((await resp.json()).user.email, email)
    // The same token as Bearer, without the key: refused (RFC 9449 §7.2).
    const stolen = await fetch(me, { headers: { Authorization: `Bearer ${tokens.access_token}` } })
    assert.equal(stolen.status, 401)
  })

  await t.test('the handle keeps refreshing', async () => {
    const next = await withNonceRetry(async () => oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, none, tokens.refresh_token, { DPoP, ...insecure })))
    assert.equal(next.token_type, 'dpop')
    const resp = await withNonceRetry(() => oauth.protectedResourceRequest(next.access_token, 'GET', new URL(`${url}/auth/me`),
      new Headers(), null, { DPoP, ...insecure }))
    assert.equal(resp.status, 200)
  })
})
