// oauth4webapi (panva's OAuth 2 client for Web API runtimes) against a real
// `latchkey serve`: discovery (RFC 8414), the refresh grant, revocation and
// introspection as a public client (client authentication "none"), and the
// refusals a strict client must see: a client secret, in the body or in
// HTTP Basic, is 401 invalid_client before anything is consumed (issue #25),
// a scope is invalid_scope, and another client cannot revoke the token.
//
// e2e/oauth4webapi_test.go starts the server and runs
// `node --test oauth4webapi.test.js` here with LATCHKEY_URL set. oauth4webapi
// has no password grant (RFC 9700 §2.4 says not to use it), so the sign-in
// is a plain fetch of POST /oauth/token.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'

const url = process.env.LATCHKEY_URL
if (!url) {
  throw new Error('LATCHKEY_URL is not set: run this through e2e/oauth4webapi_test.go or set it to a running latchkey serve')
}

const password = 'correct horse battery staple'
const email = `oauth4webapi-${process.pid}-${Date.now()}@example.com`
// The test server is plain http on loopback.
const insecure = { [oauth.allowInsecureRequests]: true }

async function signIn(clientId) {
  const resp = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8' },
    body: new URLSearchParams({ grant_type: 'password', username: email, password, client_id: clientId }),
  })
  assert.equal(resp.status, 200, await resp.clone().text())
  return resp.json()
}

// refused asserts how oauth4webapi reports a Latchkey refusal: a 401 with a
// WWW-Authenticate challenge of scheme as a WWWAuthenticateChallengeError,
// any other error as a ResponseBodyError with the RFC 6749 code.
function refused({ status, error, scheme }) {
  return (err) => {
    if (scheme) {
      assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, `not a challenge error: ${err}`)
      assert.equal(err.status, status)
      assert.equal(err.cause[0].scheme, scheme)
    } else {
      assert.ok(err instanceof oauth.ResponseBodyError, `not a ResponseBodyError: ${err}`)
      assert.equal(err.status, status)
      assert.equal(err.error, error)
    }
    return true
  }
}

test('oauth4webapi against Latchkey', async (t) => {
  const signUp = await fetch(`${url}/auth/sign-up`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  assert.equal(signUp.status, 201, await signUp.text())

  const issuer = new URL(url)
  const as = await oauth.processDiscoveryResponse(issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  const client = { client_id: 'app-a' }
  const none = oauth.None()

  await t.test('the metadata advertises what works: public clients', () => {
    assert.deepEqual(as.token_endpoint_auth_methods_supported, ['none'])
    assert.deepEqual(as.revocation_endpoint_auth_methods_supported, ['none'])
    assert.deepEqual(as.introspection_endpoint_auth_methods_supported, ['none'])
  })

  let tokens = await signIn(client.client_id)

  await t.test('a public client refreshes', async () => {
    const next = await oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, none, tokens.refresh_token, insecure))
    assert.equal(next.token_type, 'bearer')
    assert.ok(next.refresh_token && next.refresh_token !== tokens.refresh_token)
    assert.ok(next.expires_in > 0)
    tokens = next
  })

  await t.test('a wrong client secret gets no tokens and consumes nothing', async () => {
    for (const auth of [oauth.ClientSecretPost('wrong'), oauth.ClientSecretBasic('wrong')]) {
      await assert.rejects(
        oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token, insecure)
          .then((resp) => oauth.processRefreshTokenResponse(as, client, resp)),
        refused({ status: 401, scheme: 'basic' }))
    }
    // The refused requests spent nothing: the same token still refreshes.
    tokens = await oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, none, tokens.refresh_token, insecure))
  })

  await t.test('a scope is refused (no scopes yet)', async () => {
    await assert.rejects(
      oauth.refreshTokenGrantRequest(as, client, none, tokens.refresh_token, { ...insecure, additionalParameters: { scope: 'admin' } })
        .then((resp) => oauth.processRefreshTokenResponse(as, client, resp)),
      refused({ status: 400, error: 'invalid_scope' }))
  })

  await t.test('the client credentials grant is not offered', async () => {
    await assert.rejects(
      oauth.clientCredentialsGrantRequest(as, client, none, {}, insecure)
        .then((resp) => oauth.processClientCredentialsResponse(as, client, resp)),
      refused({ status: 400, error: 'unsupported_grant_type' }))
  })

  await t.test('introspection: the access token is active, the refresh token tells nothing', async () => {
    const access = await oauth.processIntrospectionResponse(as, client,
      await oauth.introspectionRequest(as, client, none, tokens.access_token, insecure))
    assert.equal(access.active, true)
    assert.equal(access.client_id, 'app-a')
    const refresh = await oauth.processIntrospectionResponse(as, client,
      await oauth.introspectionRequest(as, client, none, tokens.refresh_token, insecure))
    assert.deepEqual(refresh, { active: false })
  })

  await t.test('another client cannot revoke the token; the client can', async () => {
    const other = { client_id: 'app-b' }
    await assert.rejects(
      oauth.revocationRequest(as, other, none, tokens.refresh_token, insecure).then(oauth.processRevocationResponse),
      refused({ status: 400, error: 'unauthorized_client' }))
    await assert.rejects(
      oauth.revocationRequest(as, client, oauth.ClientSecretPost('wrong'), tokens.refresh_token, insecure).then(oauth.processRevocationResponse),
      refused({ status: 401, scheme: 'basic' }))
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, none, tokens.refresh_token, insecure))
    await assert.rejects(
      oauth.refreshTokenGrantRequest(as, client, none, tokens.refresh_token, insecure)
        .then((resp) => oauth.processRefreshTokenResponse(as, client, resp)),
      refused({ status: 400, error: 'invalid_grant' }))
  })
})
