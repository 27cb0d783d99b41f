// GraphiQL playground for cqrs-users. Everything is bundled by Vite: no CDN, no network but this origin.
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
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

const defaultTabs = [
  [createUser, createUserVars],
  [updateUserName, updateUserNameVars],
  [deleteUser, deleteUserVars],
  [user, userVars],
  [users, usersVars],
].map(([query, variables]) => ({ query, variables }));

// Same origin: POST /graphql for queries and mutations, graphql-transport-ws on /graphql for subscriptions.
// The WebSocket is only opened when a subscription is run.
const wsScheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
const httpAndWsFetcher = createGraphiQLFetcher({
  url: '/graphql',
  subscriptionUrl: `${wsScheme}//${window.location.host}/graphql`,
  // Plain `application/json` requests and responses (no multipart/mixed incremental delivery).
  enableIncrementalDelivery: false,
});
// GraphiQL updates the operation name ~100 ms after a tab switch; a quicker Run would send the
// previous tab's name ("Unknown operation named ..."). Take it from the query actually sent.
const fetcher = (params, opts) => {
  let doc;
  try {
    doc = parse(params.query);
  } catch {
    return httpAndWsFetcher(params, opts); // let the server report the syntax error
  }
  const names = doc.definitions.filter((d) => d.kind === 'OperationDefinition').map((d) => d.name?.value);
  const operationName =
    names.length === 1 ? names[0] : names.includes(params.operationName) ? params.operationName : undefined;
  return httpAndWsFetcher({ ...params, operationName }, { ...opts, documentAST: doc });
};

// GraphiQL keeps tabs in localStorage. Use our own key prefix so other GraphiQL pages on the same
// origin (e.g. localhost:8000) do not mix in, and reset the saved tabs when the examples change.
const PREFIX = 'cqrs-users:';
let storage = null; // null: GraphiQL keeps nothing (used when localStorage is blocked)
try {
  const ls = window.localStorage;
  const ownKeys = () => Object.keys(ls).filter((k) => k.startsWith(PREFIX));
  const prefixed = {
    getItem: (k) => ls.getItem(PREFIX + k),
    setItem: (k, v) => ls.setItem(PREFIX + k, v),
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
  }),
);
