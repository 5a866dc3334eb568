/** Realistic hint sources for the hints tests: a small support team's canned replies and bot file. */

export const CANNED = [
  {
    title: "Password reset",
    text:
      "To reset your password, go to Settings → Security and click “Reset password”. We email you a link that works for 30 minutes.",
    tags: ["login", "account"],
  },
  {
    title: "Refund policy",
    text:
      "You can ask for a refund within 30 days of purchase under Orders → Request refund. The money reaches your card in 5–7 business days.",
    tags: ["money back", "return"],
  },
  {
    title: "Shipping times",
    text:
      "Standard delivery takes 3–5 business days; express delivery arrives the next business day when you order before 2 pm.",
    tags: ["delivery", "shipping"],
  },
  {
    title: "Cancel subscription",
    text:
      "You can cancel your subscription at any time under Billing → Subscription → Cancel. You keep access until the end of the paid period.",
    tags: ["billing"],
  },
  {
    title: "Change e-mail",
    text:
      "To change the e-mail address of your account, open Settings → Profile, enter the new address and confirm it with the link we send.",
    tags: ["account"],
  },
];

/** In the bot's format (`src/integrations/bot/knowledge.ts`). */
export const KNOWLEDGE = {
  fallback: { answer: "Sorry, I did not get that.", quick_replies: [] },
  handoff: { answer: "I am passing you to a colleague." },
  intents: [
    {
      name: "opening_hours",
      examples: ["when are you open", "what are your opening hours", "are you open on weekends"],
      answers: ["Our support team is there Monday to Friday, 8:00–20:00 CET."],
      quick_replies: [],
    },
    {
      name: "reset_password",
      examples: ["I forgot my password", "how do I reset my password"],
      answers: ["On the login page, click “Forgot password?” and follow the e-mail."],
      quick_replies: [],
    },
    {
      name: "invoice",
      examples: ["where can I find my invoice", "download invoice", "I need a receipt"],
      answers: ["Invoices are under Billing → Invoices, as PDF files."],
      quick_replies: [],
    },
  ],
};

export const ADDRESS_QUESTION = "Hi, can I still change the delivery address for my order 1234?";
export const ADDRESS_ANSWER =
  "Yes, as long as the parcel has not shipped: Orders → Details → Edit address.";
