// GraphiQL playground for cqrs-users. Everything is bundled by Vite: no CDN, no network but this origin.
import { createElement as h, useEffect, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { useEditorContext } from '@graphiql/react';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createClient } from 'graphql-ws';
import { parse } from 'graphql';
import 'graphiql/style.css';

// The example operations are also fixtures of the Rust server's tests: they are imported verbatim.
import createUser from '../operations/createUser.graphql?raw';
import createUserVars from '../operations/createUser.variables.json?raw';
import updateUserName from '../operations/updateUserName.graphql?raw';
import updateUserNameVars from '../operations/updateUserName.variables.json?raw';
import deleteUser from '../operations/deleteUser.graphql?raw';
import deleteUserVars from '../operations/deleteUser.variables.json?raw';
import user from '../operations/user.graphql?raw';
import userVars from '../operations/user.variables.json?raw';
import users from '../operations/users.graphql?raw';
import usersVars from '../operations/users.variables.json?raw';
import userEvents from '../operations/userEvents.graphql?raw';
import userEventsVars from '../operations/userEvents.variables.json?raw';

// In the order they run: each tab takes the id, version and token of the write before (below).
const defaultTabs = [
  [createUser, createUserVars],
  [user, userVars],
  [updateUserName, updateUserNameVars],
  [users, usersVars],
  [deleteUser, deleteUserVars],
  [userEvents, userEventsVars],
].map(([query, variables]) => ({ query, variables }));

// The last write a mutation answered in this page: the user's `id`, its version (as
// `expectedVersion`) and the `consistencyToken`; `seq` counts writes.
let lastWrite = { seq: 0 };
const writeListeners = new Set();
const noteWrite = (result) => {
  const write = {};
  for (const payload of Object.values(result?.data ?? {})) {
    if (typeof payload?.consistencyToken === 'string') write.consistencyToken = payload.consistencyToken;
    if (typeof payload?.user?.id === 'string') write.id = payload.user.id;
    if (Number.isInteger(payload?.user?.version)) write.expectedVersion = payload.user.version;
  }
  if (Object.keys(write).length === 0) return;
  lastWrite = { ...lastWrite, ...write, seq: lastWrite.seq + 1 };
  writeListeners.forEach((listener) => listener());
};
const onWrite = (listener) => {
  writeListeners.add(listener);
  return () => writeListeners.delete(listener);
};
// A tab's variables with the keys it already has (at the top or in `input`) set to the last
// write's values; null when nothing changes or the text is not JSON (the user's to fix).
const withWrite = (text, write) => {
  let variables;
  try {
    variables = JSON.parse(text);
  } catch {
    return null;
  }
  let changed = false;
  for (const object of [variables, variables?.input]) {
    if (object === null || typeof object !== 'object' || Array.isArray(object)) continue;
    for (const key of ['id', 'consistencyToken', 'expectedVersion']) {
      if (key in object && key in write && object[key] !== write[key]) {
        object[key] = write[key];
        changed = true;
      }
    }
  }
  return changed ? JSON.stringify(variables, null, 2) : null;
};
// Rendered inside GraphiQL: when a write is answered, and when a tab opens after one, the active
// tab's variables editor takes it, once per write and tab (an id edited afterwards stays).
// GraphiQL can only update the active tab, so the others take it when they are opened.
const taken = new Map(); // tab id -> seq of the write it took
const CarryWrites = () => {
  const { tabs, activeTabIndex, variableEditor, updateActiveTabValues } = useEditorContext({ nonNull: true });
  const write = useSyncExternalStore(onWrite, () => lastWrite);
  const tabId = tabs[activeTabIndex]?.id;
  useEffect(() => {
    if (write.seq === 0 || !tabId || !variableEditor || taken.get(tabId) === write.seq) return;
    taken.set(tabId, write.seq);
    const variables = withWrite(variableEditor.getValue(), write);
    if (variables === null) return;
    variableEditor.setValue(variables);
    // At once, not after the editor's 100 ms debounce: a quick tab switch would lose it.
    updateActiveTabValues({ variables });
  }, [write, tabId, variableEditor, updateActiveTabValues]);
  return null;
};

// Same origin: POST /graphql for queries and mutations, graphql-transport-ws on /graphql for subscriptions.
// HTTP requests carry the headers pane's headers. A WebSocket has no headers of its own, so the
// pane's Authorization header (any case) goes in `connection_init` as `{ authorization }`, where the
// server looks for it. @graphiql/toolkit would instead spread every header into it and open a new
// client per subscription; we give it our own graphql-ws client, one per Authorization value, so
// a changed token gets a new connection. Clients are lazy: a socket is open only while a
// subscription runs, so idle entries cost nothing.
const wsScheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
const wsUrl = `${wsScheme}//${window.location.host}/graphql`;
const fetchers = new Map(); // Authorization value (or undefined) -> GraphiQL fetcher
const fetcherFor = (authorization) => {
  let fetcher = fetchers.get(authorization);
  if (!fetcher) {
    const wsClient = createClient({
      url: wsUrl,
      connectionParams: authorization === undefined ? undefined : { authorization },
      // graphql-ws retries after any close event (its default), even 4403: the server refused the
      // token (invalid or expired). This client always sends the same one, so retrying (5 times,
      // with backoff) would only delay the error by half a minute.
      shouldRetry: (e) => typeof e === 'object' && e !== null && 'code' in e && 'reason' in e && e.code !== 4403,
    });
    fetcher = createGraphiQLFetcher({
      url: '/graphql',
      wsClient,
      // Plain `application/json` requests and responses (no multipart/mixed incremental delivery).
      enableIncrementalDelivery: false,
    });
    fetchers.set(authorization, fetcher);
  }
  return fetcher;
};
// The headers pane's Authorization value: GraphiQL passes the pane's JSON object as opts.headers.
const authorizationOf = (headers) => {
  const key = headers ? Object.keys(headers).find((k) => k.toLowerCase() === 'authorization') : undefined;
  const value = key === undefined ? undefined : headers[key];
  return typeof value === 'string' ? value : undefined;
};
// GraphiQL updates the operation name ~100 ms after a tab switch; a quicker Run would send the
// previous tab's name ("Unknown operation named ..."). Take it from the query actually sent.
const fetcher = (params, opts) => {
  const httpAndWsFetcher = fetcherFor(authorizationOf(opts?.headers));
  let doc;
  try {
    doc = parse(params.query);
  } catch {
    return httpAndWsFetcher(params, opts); // let the server report the syntax error
  }
  const operations = doc.definitions.filter((d) => d.kind === 'OperationDefinition');
  const names = operations.map((d) => d.name?.value);
  const operationName =
    names.length === 1 ? names[0] : names.includes(params.operationName) ? params.operationName : undefined;
  const result = httpAndWsFetcher({ ...params, operationName }, { ...opts, documentAST: doc });
  const operation = operations.length === 1 ? operations[0] : operations.find((d) => d.name?.value === operationName);
  if (operation?.operation === 'mutation') result.then(noteWrite, () => {});
  return result;
};

// GraphiQL keeps tabs in localStorage. Use our own key prefix so other GraphiQL pages on the same
// origin (e.g. localhost:8000) do not mix in, and reset the saved tabs when the examples change.
const PREFIX = 'cqrs-users:';
// GraphiQL's history plugin stores each run with its headers ('graphiql:queries', and
// 'graphiql:favorites' once starred) whatever shouldPersistHeaders says, so a token typed in the
// headers pane would land in localStorage. Drop the headers on the way in: history keeps them for
// this page's life, and a history entry restored after a reload comes back without headers.
const HISTORY_KEYS = ['graphiql:queries', 'graphiql:favorites'];
const withoutHeaders = (k, v) => {
  if (!HISTORY_KEYS.includes(k)) return v;
  try {
    return JSON.stringify(JSON.parse(v), (key, value) => (key === 'headers' ? undefined : value));
  } catch {
    return v;
  }
};
let storage = null; // null: GraphiQL keeps nothing (used when localStorage is blocked)
try {
  const ls = window.localStorage;
  const ownKeys = () => Object.keys(ls).filter((k) => k.startsWith(PREFIX));
  const prefixed = {
    getItem: (k) => ls.getItem(PREFIX + k),
    setItem: (k, v) => ls.setItem(PREFIX + k, withoutHeaders(k, v)),
    removeItem: (k) => ls.removeItem(PREFIX + k),
    clear: () => ownKeys().forEach((k) => ls.removeItem(k)),
    get length() {
      return ownKeys().length;
    },
  };
  const examples = JSON.stringify(defaultTabs);
  if (ls.getItem(PREFIX + 'examples') !== examples) {
    ['tabState', 'query', 'variables', 'headers'].forEach((k) => prefixed.removeItem('graphiql:' + k));
    ls.setItem(PREFIX + 'examples', examples);
  }
  // graphiql bug (graphql/graphiql#3392): the first default tab opens with empty variables.
  // It reads the editors' first contents from storage, so seed them with the first tab.
  if (prefixed.getItem('graphiql:tabState') === null) {
    prefixed.setItem('graphiql:query', defaultTabs[0].query);
    prefixed.setItem('graphiql:variables', defaultTabs[0].variables);
  }
  storage = prefixed;
} catch {
  // localStorage blocked or full: GraphiQL still works, tabs are not kept.
}

createRoot(document.getElementById('graphiql')).render(
  h(GraphiQL, {
    fetcher,
    defaultTabs,
    storage,
    defaultEditorToolsVisibility: 'variables',
    shouldPersistHeaders: false,
  }, h(CarryWrites)),
);
