/**
 * Stop words of the two languages the chats are written in: words that carry no topic (articles,
 * pronouns, auxiliaries, prepositions, polite filler). Written in normalised form (lower case,
 * `ё` as `е`, no accents), the form {@link import("./analyze.ts").words} produces.
 *
 * Hand-written rather than taken from a list package (`@orama/stopwords`, `stopwords-iso`): those
 * lists are made for document retrieval and drop words a support bot and a staff search must keep.
 * Snowball's Russian list, for one, has «человек» («позовите живого человека» is how a client asks
 * for a person), «сегодня», «хорошо», «один/два/три»; greetings («привет», «hello») and «оператор»
 * are deliberately absent too: intents are matched on them. The Russian list below is Snowball's
 * without those content words, plus the usual forms of the possessives and polite filler
 * («пожалуйста», «подскажите», «хочу»), as the English list has "please" and "want".
 */

const EN =
  "a an the and or but if of to in on at by for from with about as into over after before " +
  "is am are was were be been being do does did doing have has had having will would shall " +
  "should can could may might must i me my mine myself we us our ours you your yours he him " +
  "his she her it its they them their this that these those there here what which who whom " +
  "whose how why when where just so very too also not no yes any some all please pls want " +
  "wanted need needs like would get got im ive id youre its dont doesnt didnt cant wont " +
  "isnt arent wasnt hasnt havent let lets tell know help thing things one still already " +
  "much many lot lots really";

const RU =
  // Snowball's Russian stop list, less the content words named above.
  "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только " +
  "ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни " +
  "быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где " +
  "есть надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж " +
  "тогда кто этот того потому этого какой совсем ним здесь этом почти мой тем чтобы нее сейчас " +
  "были куда зачем всех никогда можно при об хоть после над больше тот через эти нас про " +
  "всего них какая много разве эту моя впрочем свою этой перед иногда том такой им более " +
  "всегда конечно всю между " +
  // Other forms of the same words, and filler a question is wrapped in.
  "мое мои моего моей моих моим моему мою мной ваш ваша ваше ваши вашего вашей ваших вашим " +
  "вашему вашу наш наша наше наши нашего нашей наших это эта эти этим этих этими какие " +
  "каких какую каком какое каким который которая которое которые которых также так " +
  "очень просто весь вся всем всеми ко изо обо почему откуда кого кому будут буду " +
  "пожалуйста пжл плиз хочу хотел хотела хотели хотелось хотим нужно нужен нужна нужны " +
  "могу можете мочь подскажите скажите подсказать сказать помогите вообще либо ли";

/** English stop words (the bot's list since its first version). */
export const STOP_WORDS_EN: ReadonlySet<string> = new Set(EN.split(" "));

/** Russian stop words. */
export const STOP_WORDS_RU: ReadonlySet<string> = new Set(RU.split(" "));

/** Both lists: a word is a stop word in whichever language it is written. */
export const STOP_WORDS: ReadonlySet<string> = new Set([...STOP_WORDS_EN, ...STOP_WORDS_RU]);
