// The real FeathersJS v5 client against a real `latchkey serve`.
//
// e2e/feathers_test.go builds and starts the server (with
// REFRESH_TOKEN_REUSE_INTERVAL=0s) and runs `node --test` here with
// LATCHKEY_URL set. To run it by hand against a server of your own:
//
//   LATCHKEY_URL=http://127.0.0.1:8080 npm test
//
// How the client attaches its token to a request of our own: every service
// call goes through the hooks that @feathersjs/authentication-client
// installs (lib/hooks/authentication.js copies the stored authentication
// result into params, lib/hooks/populate-header.js turns params.accessToken
// into "Authorization: Bearer <token>"). So a Latchkey route is simply a
// Feathers service on the REST client: app.service('auth/me').find() is
// GET /auth/me with the stored access token, no hand-made header.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { feathers } from '@feathersjs/feathers'
import rest from '@feathersjs/rest-client'
import authClient from '@feathersjs/authentication-client'
import { NotAuthenticated, FeathersError } from '@feathersjs/errors'

const url = process.env.LATCHKEY_URL
if (!url) {
  throw new Error('LATCHKEY_URL is not set: run this through e2e/feathers_test.go or set it to a running latchkey serve')
}

const password = 'correct horse battery staple'
const email = `feathers-${process.pid}-${Date.now()}@example.com`
const storageKey = 'feathers-jwt' // the client's default storageKey

// client returns a Feathers client app with its own token storage (the
// default MemoryStorage is one object shared by every app in the process).
function client() {
  const storage = new authClient.MemoryStorage()
  const app = feathers()
  app.configure(rest(url).fetch(fetch)) // Node 20's global fetch
  app.configure(authClient({ storage }))
  return { app, storage }
}

// notAuthenticated asserts that err is what the client makes of a Latchkey
// 401: a NotAuthenticated (rebuilt by convert() from the body's name), with
// Latchkey's reason in data.
function notAuthenticated(reason) {
  return (err) => {
    assert.ok(err instanceof NotAuthenticated, `not a NotAuthenticated: ${err}`)
    assert.equal(err.name, 'NotAuthenticated')
    assert.equal(err.code, 401)
    assert.equal(err.className, 'not-authenticated')
    assert.equal(err.data?.reason, reason, `reason: ${JSON.stringify(err.data)} (${err.message})`)
    return true
  }
}

const refresh = (app, refreshToken) =>
  app.service('authentication').create({ action: 'refresh', refresh_token: refreshToken })

test('the FeathersJS client against Latchkey', async (t) => {
  const signUp = await fetch(`${url}/auth/sign-up`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password })
  })
  assert.equal(signUp.status, 201, await signUp.text())

  const { app, storage } = client()
  let first, refreshed

  await t.test('authenticate with strategy local', async () => {
    first = await app.authenticate({ strategy: 'local', email, password })
    assert.match(first.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    assert.match(first.refreshToken, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    assert.equal(first.authentication.strategy, 'local')
    const { payload } = first.authentication
    assert.equal(payload.sub, first.user.id)
    assert.equal(payload.token_use, 'access')
    assert.ok(payload.exp > payload.iat && payload.sid && payload.jti, JSON.stringify(payload))
    assert.equal(first.user.email, email)
    assert.equal(await storage.getItem(storageKey), first.accessToken)
  })

  await t.test('wrong password is NotAuthenticated', async () => {
    const other = client()
    await assert.rejects(
      other.app.authenticate({ strategy: 'local', email, password: 'wrong password' }),
      notAuthenticated('invalid_credentials')
    )
  })

  await t.test('a protected route with the stored token', async () => {
    const me = await app.service('auth/me').find()
    assert.equal(me.user.id, first.user.id)
    // Without a token the same call is refused (Latchkey's canonical 401).
    await assert.rejects(client().app.service('auth/me').find(), (err) => err.response?.status === 401)
  })

  await t.test('refresh with action "refresh"', async () => {
    refreshed = await refresh(app, first.refreshToken)
    assert.notEqual(refreshed.accessToken, first.accessToken)
    assert.notEqual(refreshed.refreshToken, first.refreshToken)
    assert.equal(refreshed.authentication.payload.sid, first.authentication.payload.sid)
    assert.equal(refreshed.user.id, first.user.id)
  })

  await t.test('reAuthenticate(true) with the refreshed access token', async () => {
    await app.authentication.setAccessToken(refreshed.accessToken)
    const re = await app.reAuthenticate(true)
    assert.equal(re.accessToken, refreshed.accessToken)
    assert.equal(re.authentication.strategy, 'jwt')
    assert.equal(re.authentication.payload.jti, refreshed.authentication.payload.jti)
    assert.equal(re.user.email, email)
    const me = await app.service('auth/me').find()
    assert.equal(me.user.email, email)
  })

  await t.test('a reused refresh token is NotAuthenticated and ends the session', async () => {
    // REFRESH_TOKEN_REUSE_INTERVAL=0s: the superseded token is reuse at once.
    await assert.rejects(refresh(app, first.refreshToken), notAuthenticated('refresh_token_reused'))
    // The whole family is revoked: the current refresh token is dead too.
    // Through app.authenticate the client also drops its stored token on 401.
    await assert.rejects(
      app.authenticate({ action: 'refresh', refresh_token: refreshed.refreshToken }),
      notAuthenticated('refresh_token_reused')
    )
    assert.equal(await storage.getItem(storageKey), undefined)
  })

  await t.test('logout signs the session out', async () => {
    const { app, storage } = client()
    const res = await app.authenticate({ strategy: 'local', email, password })
    const out = await app.logout() // DELETE /authentication with the stored token
    assert.equal(out.accessToken, res.accessToken)
    assert.equal(out.authentication.strategy, 'jwt')
    assert.equal(out.user.id, res.user.id)
    assert.equal(await storage.getItem(storageKey), undefined)
    assert.equal(app.get('authentication'), null)
    await assert.rejects(refresh(app, res.refreshToken), notAuthenticated('session_revoked'))
  })

  await t.test('a refresh token is not an access token', async () => {
    const { app, storage } = client()
    const res = await app.authenticate({ strategy: 'local', email, password })
    await app.authentication.setAccessToken(res.refreshToken)
    await assert.rejects(app.reAuthenticate(true), notAuthenticated('invalid_token'))
    assert.equal(await storage.getItem(storageKey), undefined)
  })

  await t.test('a body over 64 KiB is a 413 the client can read', async () => {
    // @feathersjs/errors has no 413 class: convert() makes a plain Error
    // that still carries name, code and className from the body.
    await assert.rejects(
      app.service('authentication').create({ strategy: 'local', email, password: 'x'.repeat(70 * 1024) }),
      (err) => {
        assert.ok(!(err instanceof FeathersError))
        assert.equal(err.name, 'PayloadTooLarge')
        assert.equal(err.code, 413)
        assert.equal(err.className, 'payload-too-large')
        return true
      }
    )
  })
})
