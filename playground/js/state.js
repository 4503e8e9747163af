// The playground's whole mutable state, in one object; no other module keeps
// state of its own. The URL hash mirrors the fields a link should reopen
// (see hash.js); the database itself lives in the runtime and IndexedDB.
export const ui = {
  // the open database and its clients (replaced by openRuntime)
  runtime: null, client: null, management: null,
  // selection and history view, mirrored in the hash
  instance: '', execution: 0, view: 'compact',
  // the events of the execution shown in the details panel (its first historyShown, a
  // page of HISTORY_PAGE more at a click), whether they are all of them, and its number
  // (historyFor: which instance and execution historyShown is of)
  shownHistory: null, shownComplete: true, shownExecution: 1, historyShown: 0, historyFor: '',
  // instance list paging: cursors[page] opens that page
  cursors: [''], page: 0, nextCursor: '',
  // the step-through replay ({ report, index, fromInstance, instance, execution }) or null;
  // one of the shown execution (fromInstance) closes when another instance, execution or
  // database is shown
  replay: null,
  // the resets of the destructive actions a preview armed with its count (confirm.js): run
  // when the runtime reopens, so a count never arms an action on another database
  disarms: [],
  // the timeline's zoom (gantt.js), kept across its redraws
  ganttZoom: '0',
  // the last simulation seed run (in the hash once run)
  simSeed: undefined,
  // a reproduce link's planned client operations: they replace the workload's until it is edited
  simOps: null,
  // the runtime's notices and activities' log lines, newest first (notices.js; reset with the database)
  notices: [], noticesAdded: 0,
  // the metrics change-feed cursor and the lines shown (reset with the database)
  metricsCursor: 0, metricsFeed: [],
  // whether IndexedDB lags the runtime, and the chain that serialises saves
  dirty: false, saveChain: Promise.resolve(),
  // instances started from the form, to make each suggested id unique
  started: 0,
  // what the code panel registered (usercode.js: evaluate), applied to every runtime opened,
  // and its source as the hash's "code" (share.js: encodeShared)
  program: null, codeParam: '',
};
