// The test app's entry, bundled by build.mjs with the guide's authConfig.js
// and main.js (taken from docs/clients.md by e2e/aurelia_app_test.go, which
// puts them beside these files).
//
// The page has no module loader (esbuild put everything in one script), so
// aurelia-bootstrapper is given a loader over the bundled modules; then it
// starts as in any Aurelia app: <body aurelia-app="main"> runs main.js's
// configure(aurelia).
//
// ?config={...} in the page's URL is merged into authConfig before main.js
// reads it: the test's variations of the guide's configuration (a clientId,
// no logoutUrl).
import './pal.js';
import {PLATFORM} from 'aurelia-pal';
import * as framework from 'aurelia-framework';
import * as palBrowser from 'aurelia-pal-browser';
import * as templatingBinding from 'aurelia-templating-binding';
import * as templatingResources from 'aurelia-templating-resources';
import * as templatingRouter from 'aurelia-templating-router';
import * as historyBrowser from 'aurelia-history-browser';
import * as eventAggregator from 'aurelia-event-aggregator';
import * as loggingConsole from 'aurelia-logging-console';
import * as api from 'aurelia-api';
import * as authentication from 'aurelia-authentication';
import * as authFilter from 'aurelia-authentication/dist/commonjs/authFilterValueConverter.js';
import * as authenticatedFilter from 'aurelia-authentication/dist/commonjs/authenticatedFilterValueConverter.js';
import * as authenticated from 'aurelia-authentication/dist/commonjs/authenticatedValueConverter.js';
import authConfig from './authConfig.js';
import * as main from './main.js';
import * as app from './app.js';
import appView from './app.html';
import {bundleLoader} from './loader.js';
// The bootstrapper starts once the document has loaded, after this module
// has set PLATFORM.Loader below.
import 'aurelia-bootstrapper';

const variation = new URLSearchParams(PLATFORM.location.search).get('config');
if (variation) {
  Object.assign(authConfig, JSON.parse(variation));
}

PLATFORM.Loader = bundleLoader({
  'aurelia-framework': framework,
  'aurelia-pal-browser': palBrowser,
  'aurelia-templating-binding': templatingBinding,
  'aurelia-templating-resources': templatingResources,
  'aurelia-templating-router': templatingRouter,
  'aurelia-history-browser': historyBrowser,
  'aurelia-event-aggregator': eventAggregator,
  'aurelia-logging-console': loggingConsole,
  'aurelia-api': api,
  'aurelia-authentication': authentication,
  'aurelia-authentication/authFilterValueConverter': authFilter,
  'aurelia-authentication/authenticatedFilterValueConverter': authenticatedFilter,
  'aurelia-authentication/authenticatedValueConverter': authenticated,
  main,
  app,
}, {'app.html': appView});
