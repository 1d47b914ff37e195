"""The desk in Arabic and English (issue 3, item 5).

The language comes from the `ticker_desk_lang` cookie (the switch in the header),
else from Accept-Language, else Arabic: the desk is Arabic first. Every string
is here, in both languages, keyed by a short name; templates call `t("key")`
and the page's script gets the `js.*` strings in a JSON block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

LANGS = ("ar", "en")
DEFAULT_LANG = "ar"
LANG_COOKIE = "ticker_desk_lang"
DIRECTION = {"ar": "rtl", "en": "ltr"}

# key: (Arabic, English). Parameters in braces, str.format style.
MESSAGES: dict[str, tuple[str, str]] = {
    # Frame
    "app.name": ("مكتب الأخبار العاجلة", "Breaking news desk"),
    "skip": ("انتقل إلى المحتوى", "Skip to content"),
    "nav.label": ("أقسام المكتب", "Desk sections"),
    "nav.compose": ("النشر", "Compose"),
    "nav.audit": ("سجل التدقيق", "Audit log"),
    "nav.channels": ("القنوات", "Channels"),
    "nav.users": ("المستخدمون", "Users"),
    "nav.tokens": ("مفاتيح الواجهة", "API tokens"),
    "nav.password": ("كلمة المرور", "Password"),
    "nav.logout": ("خروج", "Log out"),
    "nav.signed_in": ("باسم {name}", "Signed in as {name}"),
    "lang.switch": ("English", "العربية"),
    "lang.switch_label": ("Switch to English", "التبديل إلى العربية"),
    "role.editor": ("محرر", "editor"),
    "role.admin": ("مدير", "admin"),
    # Login
    "login.title": ("تسجيل الدخول", "Log in"),
    "login.user": ("اسم المستخدم", "User name"),
    "login.password": ("كلمة المرور", "Password"),
    "login.submit": ("دخول", "Log in"),
    "login.failed": (
        "اسم المستخدم أو كلمة المرور غير صحيحة. تحقق منهما وحاول مجددًا.",
        "The user name or password is wrong. Check both and try again.",
    ),
    "login.disabled": (
        "هذا الحساب معطّل. اطلب من أحد المديرين إعادة تفعيله.",
        "This account is disabled. Ask an admin to enable it again.",
    ),
    "login.throttled": (
        "محاولات فاشلة كثيرة. انتظر {minutes} دقيقة ثم حاول مجددًا، أو اطلب من مدير "
        "إعادة تعيين كلمة المرور.",
        "Too many failed attempts. Wait {minutes} min, then try again, or ask an admin "
        "to reset your password.",
    ),
    "login.expired": (
        "انتهت جلستك. سجّل الدخول مجددًا.",
        "Your session has ended. Please log in again.",
    ),
    "login.expired_draft": (
        "انتهت جلستك ولم يُنشر شيء. سجّل الدخول مجددًا وسيعود نصّك إلى النموذج.",
        "Your session had ended, so nothing was published. Log in again and your "
        "text will be back in the form.",
    ),
    "login.logged_out": ("خرجت من المكتب.", "You are logged out."),
    "login.draft_kept": ("نصّك المحفوظ", "Your kept text"),
    # Compose
    "compose.title": ("خبر جديد", "New item"),
    "compose.text": ("نص الخبر", "Item text"),
    "compose.text_help": ("جملة واحدة. للنشر:", "One sentence. To publish:"),
    "compose.or": ("أو", "or"),
    "compose.count": ("{n} / {max}", "{n} / {max}"),
    "compose.channel": ("القناة", "Channel"),
    "compose.priority": ("الأولوية", "Priority"),
    "priority.urgent": ("عاجل", "Urgent"),
    "priority.normal": ("عادي", "Normal"),
    "compose.lifetime": ("مدة البقاء", "Lifetime"),
    "compose.lifetime_keep": ("دون تغيير", "Keep as is"),
    "compose.url": ("رابط (اختياري)", "Link (optional)"),
    "compose.url_help": ("يبدأ بـ", "Starts with"),
    "compose.preview": ("معاينة كما تظهر في الشريط", "Preview, as the ticker shows it"),
    "compose.preview_empty": ("سيظهر الخبر هنا.", "The item will show here."),
    "compose.submit": ("انشر", "Publish"),
    "compose.no_channel": (
        "لا قناة مسموحًا لك النشر عليها. اطلب من مدير منحك قناة.",
        "There is no channel you may publish on. Ask an admin to give you one.",
    ),
    "lifetime.h": ("{n} ساعة", "{n} h"),
    "lifetime.1": ("ساعة", "1 hour"),
    "lifetime.3": ("3 ساعات", "3 hours"),
    "lifetime.6": ("6 ساعات", "6 hours"),
    "lifetime.12": ("12 ساعة", "12 hours"),
    "lifetime.24": ("24 ساعة", "24 hours"),
    "lifetime.48": ("48 ساعة", "48 hours"),
    "lifetime.72": ("3 أيام", "3 days"),
    "lifetime.168": ("أسبوع", "1 week"),
    # Outcomes
    "done.published": ("نُشر الخبر.", "Published."),
    "done.already": (
        "هذا النموذج نُشر من قبل؛ لم يُنشر الخبر مرتين.",
        "This form had already been published; the item was not published twice.",
    ),
    "done.corrected": ("صُحّح الخبر في كل مكان.", "Corrected everywhere."),
    "done.retracted": ("سُحب الخبر من كل مكان.", "Retracted everywhere."),
    "done.gone": (
        "لم يعد هذا الخبر على الهواء (انتهت مدته أو سُحب).",
        "This item is no longer live (it expired or was retracted).",
    ),
    "done.saved": ("حُفظت التغييرات.", "Saved."),
    "done.password": ("تغيّرت كلمة المرور.", "Password changed."),
    # Errors
    "error.title": ("تعذّر ذلك", "That did not work"),
    "error.fields": (
        "صحّح الحقول المشار إليها ثم أعد المحاولة.",
        "Fix the marked fields, then try again.",
    ),
    "error.unavailable": (
        "قاعدة بيانات الشريط (Redis) غير متاحة الآن، ولم يتغيّر شيء. نصّك باقٍ هنا: "
        "أعد المحاولة بعد ثوانٍ.",
        "The ticker's database (Redis) cannot be reached right now; nothing was changed. "
        "Your text is kept here: try again in a few seconds.",
    ),
    "error.unavailable_page": (
        "قاعدة بيانات الشريط (Redis) غير متاحة الآن. أعد تحميل الصفحة بعد ثوانٍ؛ "
        "مسودتك محفوظة في هذا المتصفح.",
        "The ticker's database (Redis) cannot be reached right now. Reload in a few "
        "seconds; your draft is kept in this browser.",
    ),
    "error.csrf": (
        "هذا النموذج قديم أو أُرسل من موقع آخر، فلم يتغيّر شيء. "
        "ارجع وأعد تحميل الصفحة ثم أعد المحاولة.",
        "This form was out of date or sent from another site, so nothing changed. Go back, "
        "reload the page, and try again.",
    ),
    "error.cross_site": (
        "أُرسل هذا الطلب من صفحة موقع آخر، فلم يتغيّر شيء. "
        "افتح المكتب بنفسك (من العنوان أو الإشارة المرجعية) وأعد المحاولة.",
        "This request came from another site's page, so nothing changed. Open the desk "
        "yourself (its address or a bookmark) and try again.",
    ),
    "error.forbidden_channel": (
        "لا يُسمح لك بالنشر على القناة «{channel}». اختر قناة أخرى أو اطلب الإذن من مدير.",
        "You may not publish on channel “{channel}”. Pick another channel or ask an admin.",
    ),
    "error.admin_only": ("هذه الصفحة للمديرين فقط.", "Only admins can use this page."),
    "error.not_found": ("لا شيء هنا.", "Nothing here."),
    "error.unknown_channel": ("لا توجد قناة «{channel}».", "There is no channel “{channel}”."),
    "error.too_large": (
        "النموذج أكبر من المسموح (16 كيلوبايت).",
        "The form is too large (16 KiB at most).",
    ),
    "error.bad_form": ("تعذّرت قراءة النموذج.", "The form could not be read."),
    "error.idempotency": (
        "استُخدم هذا النموذج لنشر خبر آخر. راجع النص ثم انشر مجددًا.",
        "This form was already used to publish a different item. Check the text and publish again.",
    ),
    "error.back": ("العودة إلى المكتب", "Back to the desk"),
    # Field messages
    "field.text": (
        "اكتب نصًا من حرف واحد إلى 280 حرفًا.",
        "Write a text of 1 to 280 characters.",
    ),
    "field.text_long": (
        "النص أطول من 280 حرفًا بـ {n}.",
        "The text is {n} characters over 280.",
    ),
    "field.url": (
        "الرابط يجب أن يبدأ بـ http:// أو https://.",
        "The link must be a full address starting with http:// or https://.",
    ),
    "field.priority": ("اختر عاجل أو عادي.", "Choose urgent or normal."),
    "field.ttl": ("اختر مدة من القائمة.", "Choose a lifetime from the list."),
    "field.channel": ("اختر قناة.", "Choose a channel."),
    "field.reason": (
        "اكتب سبب السحب (حتى 280 حرفًا).",
        "Write the reason for the retraction (up to 280 characters).",
    ),
    # The live list
    "live.title": ("على الهواء الآن", "Live now"),
    "live.empty": ("لا أخبار على الهواء في قنواتك.", "No live items on your channels."),
    "live.left": ("يبقى {left}", "{left} left"),
    "live.corrected": ("مُصحَّح", "corrected"),
    "live.correct": ("صحّح", "Correct"),
    "live.retract": ("اسحب", "Retract"),
    "live.ended": ("انتهى مؤخرًا ({n})", "Recently ended ({n})"),
    "live.ended_expired": ("انتهت مدته", "expired"),
    "live.ended_retracted": ("سُحب: {reason}", "retracted: {reason}"),
    "live.ended_retracted_plain": ("سُحب", "retracted"),
    "live.state_connecting": ("جارٍ الاتصال…", "Connecting…"),
    "live.state_live": ("مباشر", "Live"),
    "live.state_offline": (
        "انقطع البث؛ إعادة الاتصال جارية…",
        "Stream interrupted; reconnecting…",
    ),
    "live.link": ("الرابط", "link"),
    "time.hm": ("{h} س {m} د", "{h} h {m} min"),
    "time.m": ("{m} د", "{m} min"),
    "time.soon": ("أقل من دقيقة", "under a minute"),
    # Correct and retract pages
    "edit.title": ("تصحيح خبر", "Correct an item"),
    "edit.submit": ("احفظ التصحيح", "Save the correction"),
    "edit.cancel": ("إلغاء", "Cancel"),
    "retract.title": ("سحب خبر", "Retract an item"),
    "retract.confirm_text": (
        "سيُسحب هذا الخبر من كل الصفحات فورًا. لا يمكن التراجع عن ذلك.",
        "This item will be removed from every page at once. This cannot be undone.",
    ),
    "retract.reason": ("سبب السحب", "Reason for the retraction"),
    "retract.submit": ("نعم، اسحب الخبر", "Yes, retract it"),
    # Audit
    "audit.title": ("سجل التدقيق", "Audit log"),
    "audit.filter": ("تصفية", "Filter"),
    "audit.all": ("الكل", "All"),
    "audit.channel": ("القناة", "Channel"),
    "audit.user": ("المستخدم", "User"),
    "audit.day": ("اليوم", "Day"),
    "audit.apply": ("اعرض", "Show"),
    "audit.csv": ("تنزيل CSV", "Download CSV"),
    "audit.when": ("الوقت", "When"),
    "audit.action": ("الإجراء", "Action"),
    "audit.who": ("من", "Who"),
    "audit.what": ("ماذا تغيّر", "What changed"),
    "audit.before": ("قبل", "Before"),
    "audit.after": ("بعد", "After"),
    "audit.reason": ("السبب", "Reason"),
    "audit.empty": ("لا سجلات لهذا الاختيار.", "No records for this selection."),
    "audit.older": ("سجلات أقدم", "Older records"),
    "audit.tz": ("الأوقات بتوقيت {tz}.", "Times in {tz}."),
    "audit.expiry": ("انتهاء تلقائي", "automatic expiry"),
    "audit.cli": ("سطر الأوامر", "command line"),
    "audit.token": ("مفتاح {name}", "token {name}"),
    "audit.system": ("النظام", "system"),
    "action.publish": ("نشر", "published"),
    "action.update": ("تصحيح", "corrected"),
    "action.retract": ("سحب", "retracted"),
    "action.expire": ("انتهاء", "expired"),
    "action.channel": ("قناة", "channel"),
    "action.user": ("مستخدم", "user"),
    "action.token": ("مفتاح", "token"),
    "audit.channel_field.id": ("المعرّف", "id"),
    "audit.channel_field.title": ("العنوان", "title"),
    "audit.channel_field.lang": ("اللغة", "language"),
    "audit.channel_field.timezone": ("المنطقة الزمنية", "time zone"),
    "audit.channel_field.default_ttl_seconds": ("مدة البقاء بالثواني", "lifetime (s)"),
    "audit.field.text": ("النص", "text"),
    "audit.field.url": ("الرابط", "link"),
    "audit.field.priority": ("الأولوية", "priority"),
    "audit.field.expires_at": ("ينتهي", "expires"),
    # Admin: channels
    "channels.title": ("القنوات", "Channels"),
    "channels.add": ("قناة جديدة", "Add a channel"),
    "channels.id": ("المعرّف", "Id"),
    "channels.id_help": (
        "أحرف لاتينية صغيرة وأرقام وشرطات، حتى 32.",
        "Lower-case letters, digits and dashes, up to 32.",
    ),
    "channels.name": ("العنوان", "Title"),
    "channels.lang": ("اللغة", "Language"),
    "channels.timezone": ("المنطقة الزمنية", "Time zone"),
    "channels.ttl": ("مدة البقاء الافتراضية", "Default lifetime"),
    "channels.save": ("احفظ", "Save"),
    "channels.create": ("أضف القناة", "Add the channel"),
    "channels.exists": ("القناة «{channel}» موجودة.", "Channel “{channel}” already exists."),
    "field.channel_id": (
        "المعرّف: أحرف لاتينية صغيرة وأرقام وشرطات، يبدأ بحرف أو رقم، حتى 32.",
        "Id: lower-case letters, digits and dashes, starting with a letter or digit, up to 32.",
    ),
    "field.title": ("اكتب عنوانًا (حتى 100 حرف).", "Write a title (up to 100 characters)."),
    "field.lang": ("رمز لغة مثل ar أو en.", "A language code such as ar or en."),
    "field.timezone": (
        "منطقة زمنية معروفة مثل Asia/Beirut.",
        "A known time zone such as Asia/Beirut.",
    ),
    # Admin: users
    "users.title": ("المستخدمون", "Users"),
    "users.add": ("مستخدم جديد", "Add a user"),
    "users.name": ("الاسم", "Name"),
    "users.role": ("الدور", "Role"),
    "users.channels": ("القنوات المسموحة", "Allowed channels"),
    "users.channels_help": (
        "دون اختيار: كل القنوات. المديرون يصلون إلى كل القنوات.",
        "None ticked: every channel. Admins reach every channel.",
    ),
    "users.all_channels": ("كل القنوات", "every channel"),
    "users.state": ("الحالة", "State"),
    "users.active": ("فعّال", "active"),
    "users.disabled": ("معطّل", "disabled"),
    "users.password": ("كلمة المرور (12 حرفًا على الأقل)", "Password (at least 12 characters)"),
    "users.new_password": ("كلمة مرور جديدة", "New password"),
    "users.reset": ("أعد تعيين كلمة المرور", "Reset the password"),
    "users.disable": ("عطّل", "Disable"),
    "users.enable": ("فعّل", "Enable"),
    "users.save": ("احفظ الدور والقنوات", "Save role and channels"),
    "users.create": ("أضف المستخدم", "Add the user"),
    "users.you": ("(أنت)", "(you)"),
    "users.manage": ("الدور والقنوات وكلمة المرور", "Role, channels and password"),
    "users.exists": ("يوجد مستخدم باسم «{name}».", "There is already a user “{name}”."),
    "users.no_such": ("لا يوجد مستخدم «{name}».", "There is no user “{name}”."),
    "users.self": (
        "لا يمكنك تعطيل حسابك أو نزع صلاحية المدير عن نفسك.",
        "You cannot disable your own account or take away your own admin role.",
    ),
    "users.disabled_done": (
        "عُطّل «{name}» وأُنهيت جلساته المفتوحة.",
        "“{name}” is disabled and their open sessions have ended.",
    ),
    "users.enabled_done": ("فُعّل «{name}».", "“{name}” is enabled."),
    "users.reset_done": (
        "تغيّرت كلمة مرور «{name}» وأُنهيت جلساته المفتوحة.",
        "“{name}” has a new password; their open sessions have ended.",
    ),
    "users.added": ("أُضيف «{name}».", "Added “{name}”."),
    "field.user_name": (
        "الاسم: حروف لاتينية وأرقام ونقطة وشرطة، حتى 64.",
        "Name: letters, digits, dots, dashes and underscores, up to 64.",
    ),
    "password.rule_blank": (
        "لا يمكن أن تكون كلمة المرور مسافات فقط. اختر كلمة مرور من 12 حرفًا على الأقل.",
        "A password cannot be only spaces. Choose one of at least 12 characters.",
    ),
    "password.rule_short": (
        "كلمة المرور 12 حرفًا على الأقل. جملة قصيرة تتذكّرها تكفي.",
        "The password must be at least 12 characters. A short sentence you remember will do.",
    ),
    "password.rule_common": (
        "هذه من أشهر 1000 كلمة مرور (أو إحداها مكرّرة)، ويجرّبها المهاجمون أولًا. اختر غيرها.",
        "This is one of the 1,000 most common passwords (or one repeated), which attackers "
        "try first. Choose another.",
    ),
    "field.role": ("اختر دورًا.", "Choose a role."),
    # Own password
    "password.title": ("تغيير كلمة المرور", "Change your password"),
    "password.current": ("كلمة المرور الحالية", "Current password"),
    "password.new": (
        "كلمة المرور الجديدة (12 حرفًا على الأقل)",
        "New password (at least 12 characters)",
    ),
    "password.again": ("أعد كتابة كلمة المرور الجديدة", "New password again"),
    "password.submit": ("غيّر كلمة المرور", "Change the password"),
    "password.wrong": ("كلمة المرور الحالية غير صحيحة.", "The current password is wrong."),
    "password.differ": ("كلمتا المرور الجديدتان مختلفتان.", "The two new passwords differ."),
    # Admin: tokens
    "tokens.title": ("مفاتيح واجهة البرمجة", "API tokens"),
    "tokens.intro": (
        "مفاتيح لأنظمة إدارة المحتوى التي تنشر عبر الواجهة. يظهر المفتاح مرة واحدة عند إنشائه.",
        "Tokens for the CMSes that publish through the API. A token is shown once, when made.",
    ),
    "tokens.add": ("مفتاح جديد", "Create a token"),
    "tokens.name": ("الاسم", "Name"),
    "tokens.channels": ("القنوات", "Channels"),
    "tokens.created": ("أُنشئ", "Created"),
    "tokens.channels_help": ("دون اختيار: كل القنوات.", "None ticked: every channel."),
    "tokens.create": ("أنشئ المفتاح", "Create the token"),
    "tokens.revoke": ("ألغِ", "Revoke"),
    "tokens.revoke_confirm": (
        "إلغاء المفتاح «{name}»؟ سيتوقف كل نظام يستخدمه عن النشر فورًا.",
        "Revoke token “{name}”? Every system using it stops publishing at once.",
    ),
    "tokens.none": ("لا مفاتيح بعد.", "No tokens yet."),
    "tokens.shown_once": (
        "هذا هو المفتاح «{name}». انسخه الآن واحفظه في مكان آمن: لن يظهر مرة أخرى.",
        "This is token “{name}”. Copy it now and keep it safe: it will not be shown again.",
    ),
    "tokens.revoked": ("أُلغي المفتاح «{name}».", "Revoked token “{name}”."),
    "tokens.exists": ("يوجد مفتاح باسم «{name}».", "There is already a token “{name}”."),
    "tokens.done": ("تم، العودة إلى المفاتيح", "Done, back to tokens"),
    # For the page's script
    "js.published": ("نُشر الخبر.", "Published."),
    "js.already": (
        "نُشر هذا الخبر من قبل؛ لم يُنشر مرتين.",
        "This item had already been published; it was not published twice.",
    ),
    "js.corrected": ("صُحّح الخبر.", "Corrected."),
    "js.retracted": ("سُحب الخبر.", "Retracted."),
    "js.unavailable": (
        "قاعدة بيانات الشريط غير متاحة الآن، ولم يُنشر شيء. نصّك باقٍ هنا: أعد المحاولة بعد ثوانٍ.",
        "The ticker's database cannot be reached right now; nothing was published. "
        "Your text is kept here: try again in a few seconds.",
    ),
    "js.network": (
        "تعذّر الوصول إلى الخادم، ولم يُنشر شيء. نصّك باقٍ هنا: تحقق من الاتصال وأعد المحاولة.",
        "The server could not be reached; nothing was published. Your text is kept "
        "here: check the connection and try again.",
    ),
    "js.session": (
        "انتهت جلستك ولم يُنشر شيء. نصّك محفوظ في هذا المتصفح: سجّل الدخول مجددًا وسيعود.",
        "Your session has ended; nothing was published. Your text is kept in this "
        "browser: log in again and it will be back.",
    ),
    "js.login": ("سجّل الدخول", "Log in"),
    "js.forbidden": (
        "لا يُسمح لك بذلك على هذه القناة.",
        "You are not allowed to do that on this channel.",
    ),
    "js.csrf": (
        "انتهت صلاحية الصفحة. أعد تحميلها (نصّك محفوظ) ثم أعد المحاولة.",
        "This page is out of date. Reload it (your text is kept), then try again.",
    ),
    "js.gone": (
        "لم يعد هذا الخبر على الهواء.",
        "This item is no longer live.",
    ),
    "js.idempotency": (
        "استُخدم هذا النموذج لنشر خبر آخر. راجع النص ثم انشر مجددًا.",
        "This form was already used to publish a different item. Check the text and publish again.",
    ),
    "js.failed": ("تعذّر ذلك: {detail}", "That did not work: {detail}"),
    "js.save": ("احفظ", "Save"),
    "js.cancel": ("إلغاء", "Cancel"),
    "js.confirm_retract": ("اسحب الخبر", "Retract the item"),
    "js.reason_required": ("اكتب سبب السحب.", "Write the reason for the retraction."),
    "js.publishing": ("جارٍ النشر…", "Publishing…"),
}


@dataclass(frozen=True)
class Translator:
    lang: str

    def __call__(self, key: str, **params: object) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            return key
        text = pair[0] if self.lang == "ar" else pair[1]
        return text.format(**params) if params else text

    @property
    def dir(self) -> str:
        return DIRECTION[self.lang]

    def js_strings(self) -> dict[str, str]:
        strings = {k: self(k) for k in MESSAGES if k.startswith("js.")}
        for key in (
            "live.left",
            "live.corrected",
            "live.correct",
            "live.retract",
            "live.ended",
            "live.ended_expired",
            "live.ended_retracted",
            "live.ended_retracted_plain",
            "live.state_connecting",
            "live.state_live",
            "live.state_offline",
            "live.link",
            "live.empty",
            "time.hm",
            "time.m",
            "time.soon",
            "priority.urgent",
            "priority.normal",
            "compose.lifetime_keep",
            "compose.preview_empty",
            "field.text",
            "field.text_long",
            "field.url",
            "field.priority",
            "field.ttl",
            "field.channel",
            "field.reason",
            "retract.reason",
            "retract.confirm_text",
            "compose.text",
            "compose.url",
            "compose.priority",
            "compose.lifetime",
        ):
            strings[key] = self(key)
        return strings


def negotiate(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    return from_accept_language(request.headers.get("accept-language", ""))


def from_accept_language(header: str) -> str:
    """The first of our languages in the header's order of preference (q-values)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGS and q > 0:
            ranked.append((-q, index, primary))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANG


def translator(request: Request) -> Translator:
    return Translator(negotiate(request))


Gettext = Callable[..., str]
