// @peculiar/x509 2.x resolves its algorithms through tsyringe, which refuses to load without a
// Reflect metadata polyfill (reflect-metadata, core-js, ...), and none is a dependency. This is
// the small subset tsyringe uses (define/get/getOwn/has metadata, Reflect.metadata decorator),
// installed only when no real polyfill is present. Import it before @peculiar/x509.
type MetadataMap = Map<unknown, unknown>;
type Target = object;

const store = new WeakMap<Target, Map<PropertyKey | undefined, MetadataMap>>();

function ownMap(target: Target, property: PropertyKey | undefined, create: boolean): MetadataMap | undefined {
  let byProperty = store.get(target);
  if (byProperty === undefined && create) store.set(target, (byProperty = new Map<PropertyKey | undefined, MetadataMap>()));
  let map = byProperty?.get(property);
  if (map === undefined && create && byProperty !== undefined) byProperty.set(property, (map = new Map()));
  return map;
}

const api = {
  defineMetadata(key: unknown, value: unknown, target: Target, property?: PropertyKey): void {
    ownMap(target, property, true)?.set(key, value);
  },
  hasOwnMetadata(key: unknown, target: Target, property?: PropertyKey): boolean {
    return ownMap(target, property, false)?.has(key) ?? false;
  },
  getOwnMetadata(key: unknown, target: Target, property?: PropertyKey): unknown {
    return ownMap(target, property, false)?.get(key);
  },
  hasMetadata(key: unknown, target: Target, property?: PropertyKey): boolean {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
      if (api.hasOwnMetadata(key, t, property)) return true;
    }
    return false;
  },
  getMetadata(key: unknown, target: Target, property?: PropertyKey): unknown {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
      if (api.hasOwnMetadata(key, t, property)) return api.getOwnMetadata(key, t, property);
    }
    return undefined;
  },
  metadata(key: unknown, value: unknown) {
    return (target: Target, property?: PropertyKey): void => api.defineMetadata(key, value, target, property);
  },
};

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== 'function') {
  for (const [name, fn] of Object.entries(api)) reflect[name] = fn;
}
