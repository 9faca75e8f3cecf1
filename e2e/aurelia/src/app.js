// The root view-model: a sign-in form, the signed-in user, and a loop of
// authenticated calls (the app's own API through the 'api' endpoint, and
// Latchkey's profileUrl through aurelia-authentication's getMe), all
// through aurelia-authentication's AuthService as the guide configures it.
// window.app is this view-model, for the test to drive.
import {AuthService} from 'aurelia-authentication';
import {Config} from 'aurelia-api';

export class App {
  static inject = [AuthService, Config];

  constructor(auth, endpoints) {
    this.auth = auth;
    this.api = endpoints.getEndpoint('api');
    this.email = '';
    this.password = '';
    this.user = '';      // the user's email, from getMe()
    this.message = '';   // the last failure, as the app would show it
    this.calls = {running: false, ok: 0, failed: 0, lastError: ''};
    // Storage events of the library's entry: what another tab's sign-in,
    // refresh or sign-out looks like from this one.
    this.storageEvents = 0;
    window.addEventListener('storage', event => {
      if (event.key === this.auth.config.storageKey) {
        this.storageEvents++;
      }
    });
    window.app = this;
  }

  // The sign-in form's submit.
  submit() {
    return this.login(this.email, this.password);
  }

  login(email, password) {
    return this.track(this.auth.login(email, password).then(summary));
  }

  signup(displayName, email, password) {
    return this.track(this.auth.signup(displayName, email, password).then(summary));
  }

  me() {
    return this.track(this.auth.getMe().then(profile => {
      this.user = profile.user.email;
      return profile;
    }));
  }

  logout() {
    return this.track(this.auth.logout().then(() => {
      this.user = '';
      return null;
    }));
  }

  // The library's own answer; with an expired access token and a refresh
  // token it starts a refresh and answers true.
  isAuthenticated() {
    return Promise.resolve(this.auth.isAuthenticated());
  }

  // A refresh asked of the library by hand (autoUpdateToken does it by
  // itself when the access token expires).
  updateToken() {
    return this.track(this.auth.updateToken().then(() => this.auth.getRefreshToken()));
  }

  // callsEvery starts the loop of authenticated calls: GET and POST
  // /api/hello on the app's own API, then getMe() on Latchkey, every ms
  // milliseconds.
  async callsEvery(ms) {
    this.calls.running = true;
    while (this.calls.running) {
      const calls = [() => this.api.find('hello'), () => this.api.post('hello', {n: 1}), () => this.auth.getMe()];
      for (const call of calls) {
        try {
          await call();
          this.calls.ok++;
        } catch (err) {
          this.calls.failed++;
          this.calls.lastError = describe(err);
        }
      }
      await new Promise(resolve => setTimeout(resolve, ms));
    }
  }

  stopCalls() {
    this.calls.running = false;
  }

  // state is what the test reads besides the DOM: the library's view of
  // the session and what it keeps in localStorage.
  state() {
    return {
      authenticated: this.auth.authenticated,
      stored: localStorage.getItem(this.auth.config.storageKey) !== null,
      refreshToken: this.auth.getRefreshToken() || '',
      accessToken: this.auth.getAccessToken() || '',
      exp: this.auth.getExp() || 0,
      hash: location.hash,
      storageEvents: this.storageEvents,
      calls: {...this.calls},
    };
  }

  // track shows a failure on the page and passes the outcome on, with a
  // rejection turned into an Error whose message the test can read.
  track(promise) {
    return promise.catch(err => {
      this.message = describe(err);
      throw new Error(this.message);
    });
  }
}

function summary(response) {
  return response && {user: response.user && response.user.email, hasRefreshToken: !!response.refresh_token};
}

// aurelia-api rejects with the fetch Response for a status >= 400.
function describe(err) {
  if (err instanceof Response) {
    return `HTTP ${err.status}`;
  }
  return err && err.message ? err.message : String(err);
}
