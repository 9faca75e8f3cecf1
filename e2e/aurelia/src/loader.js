// A loader (aurelia-loader's Loader) over modules that esbuild has already
// bundled into the page: Aurelia asks its loader for modules and views by
// id (plugins, value converters, the root view-model and its .html view),
// and there is no module loader in the page to ask.
import {Loader} from 'aurelia-loader';
import {DOM} from 'aurelia-pal';
import {Origin} from 'aurelia-metadata';
import {relativeToFile} from 'aurelia-path';

export function bundleLoader(modules, texts) {
  const loaded = new Map();
  const plugins = new Map(); // loader plugins: "name!address" ids
  return class BundleLoader extends Loader {
    map() {}

    normalizeSync(moduleId, relativeTo) {
      return moduleId.startsWith('.') ? relativeToFile(moduleId, relativeTo || '') : moduleId;
    }

    normalize(moduleId, relativeTo) {
      return Promise.resolve(this.normalizeSync(moduleId, relativeTo));
    }

    loadModule(id) {
      const bang = id.indexOf('!');
      if (bang > 0 && plugins.has(id.slice(0, bang))) {
        return Promise.resolve(plugins.get(id.slice(0, bang)).fetch(id.slice(bang + 1)));
      }
      if (!loaded.has(id)) {
        const m = modules[id];
        if (!m) {
          return Promise.reject(new Error(`bundle loader: no module "${id}" in the bundle`));
        }
        // Aurelia keys what it learns of a module by the module's origin
        // (its id) and finds a view-model's view by its class's origin
        // (app -> app.html): record both, on a plain copy of the module
        // (namespace objects are frozen, and metadata is kept on objects).
        const copy = {...m};
        Origin.set(copy, new Origin(id, 'default'));
        for (const [key, value] of Object.entries(copy)) {
          if (typeof value === 'function') {
            Origin.set(value, new Origin(id, key));
          }
        }
        loaded.set(id, copy);
      }
      return Promise.resolve(loaded.get(id));
    }

    loadAllModules(ids) {
      return Promise.all(ids.map(id => this.loadModule(id)));
    }

    loadText(url) {
      return url in texts ? Promise.resolve(texts[url]) : Promise.reject(new Error(`bundle loader: no text "${url}" in the bundle`));
    }

    loadTemplate(url) {
      const entry = this.getOrCreateTemplateRegistryEntry(url);
      if (entry.templateIsLoaded) {
        return Promise.resolve(entry);
      }
      return this.loadText(url).then(text => {
        entry.template = DOM.createTemplateFromMarkup(text);
        return entry;
      });
    }

    applyPluginToUrl(url, pluginName) {
      return `${pluginName}!${url}`;
    }

    addPlugin(pluginName, implementation) {
      plugins.set(pluginName, implementation);
    }
  };
}
