// Imported first by boot.js, as aurelia-bootstrapper would be in an app
// whose loader loads modules on demand: the polyfills Aurelia's metadata
// needs (Reflect.getOwnMetadata) and the browser platform (PLATFORM, DOM,
// FEATURE) come before any other Aurelia module is evaluated.
import 'aurelia-polyfills';
import {initialize} from 'aurelia-pal-browser';

initialize();
