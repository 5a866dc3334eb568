// @ts-check
/** The widget page's elements (web/index.html), and its error areas. */
import { byId, show } from "./dom.js";

const button = (/** @type {string} */ id) => /** @type {HTMLButtonElement} */ (byId(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (byId(id));
const area = (/** @type {string} */ id) => /** @type {HTMLTextAreaElement} */ (byId(id));

export const el = {
  widget: byId("widget"),
  avatar: byId("agent-avatar"),
  title: byId("title"),
  status: byId("status-line"),
  end: button("end-btn"),
  menuBtn: button("menu-btn"),
  menu: byId("menu"),
  langSelect: /** @type {HTMLSelectElement} */ (byId("lang-select")),
  transcript: button("transcript-btn"),
  notify: button("notify-btn"),
  minimize: button("minimize-btn"),
  tabs: byId("tabs"),
  tabSupport: button("tab-support"),
  tabLawyer: button("tab-lawyer"),
  unreadSupport: byId("unread-support"),
  unreadLawyer: byId("unread-lawyer"),
  supportPanel: byId("support-panel"),
  lawyerPanel: byId("lawyer-panel"),
  startView: byId("start-view"),
  availability: byId("availability"),
  startNotice: byId("start-notice"),
  startForm: /** @type {HTMLFormElement} */ (byId("start-form")),
  startBtn: button("start-btn"),
  name: input("name"),
  offlineView: byId("offline-view"),
  offlinePromise: byId("offline-promise"),
  offlineForm: /** @type {HTMLFormElement} */ (byId("offline-form")),
  offlineName: input("offline-name"),
  offlineEmail: input("offline-email"),
  offlineMessage: area("offline-message"),
  offlineBtn: button("offline-btn"),
  chatView: byId("chat-view"),
  queue: byId("queue-banner"),
  queueText: byId("queue-text"),
  queueNotify: button("queue-notify-btn"),
  messages: byId("messages"),
  lawyerMessages: byId("lawyer-messages"),
  typing: byId("typing"),
  typingText: byId("typing-text"),
  composer: /** @type {HTMLFormElement} */ (byId("composer")),
  attachBtn: button("attach-btn"),
  attachInput: input("attach-input"),
  text: area("text"),
  rateView: byId("rate-view"),
  rateTitle: byId("rate-title"),
  stars: byId("stars"),
  comment: area("comment"),
  rateBtn: button("rate-btn"),
  skipBtn: button("skip-btn"),
  rateError: byId("rate-error"),
  doneView: byId("done-view"),
  doneText: byId("done-text"),
  newChat: button("new-chat-btn"),
  doneTranscript: button("done-transcript-btn"),
};

/** Every place an error is shown; all are cleared when the view changes. */
const ERROR_AREAS = ["start-error", "offline-error", "attach-error", "chat-error", "rate-error"];

/** Shows `text` in the error area `id`. */
export function setError(/** @type {string} */ id, /** @type {string} */ text) {
  const area = byId(id);
  area.textContent = text;
  show(area);
}

/** Empties and hides every error area: nothing stale survives a change of view. */
export function clearErrors() {
  for (const id of ERROR_AREAS) {
    const area = byId(id);
    area.textContent = "";
    show(area, false);
  }
}
