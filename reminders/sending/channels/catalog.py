"""What each provider reads from its settings and secrets: names, defaults, meanings, and a
worked `dunlin channels add` example. `channels add --provider P --help` and docs/channels.md
are written from it, and a test checks every key a provider reads is listed here, so an option
such as SMTP's `security` can no longer hide in the source."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None: required (or, with `optional`, simply absent)
    en: str
    zh: str
    optional: bool = False

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional


@dataclass(frozen=True)
class Provider:
    name: str
    en: str
    zh: str
    settings: tuple[Setting, ...]
    secrets: tuple[Setting, ...]
    example: str
    notes: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _opt(name: str, en: str, zh: str) -> Setting:
    return Setting(name, None, en, zh, optional=True)


TIMEOUT = Setting("timeout", "10", "seconds to wait for the provider", "等待服务商响应的秒数")
RATE = _opt(
    "rate_per_second",
    "most messages per second (shared by workers through Redis)",
    "每秒最多发送条数（多个工作进程经 Redis 共享）",
)
BASE_URL = "base URL of the API (for a proxy or a test server)"
BASE_URL_ZH = "API 基础地址（用于代理或测试服务器）"
TEMPLATES = Setting(
    "templates",
    None,
    "the provider's approved template per Dunlin template: templates.reminder=CODE "
    "(and templates.thank_you=CODE), or {code: CODE, params: {...}} for per-template parameters",
    "每个 Dunlin 模板对应的服务商已审核模板：templates.reminder=模板编号（及 templates.thank_you），"
    "或 {code: 编号, params: {...}} 为单个模板指定参数",
)
PARAMS = _opt(
    "params",
    "JSON: the provider template's parameters from Dunlin variables (customer_name, total, "
    "amount, currency, days_overdue, invoice_count, invoice_numbers, first_invoice, "
    "oldest_due_on, payment_url, self_service_url, org_name, salesperson_name)",
    "JSON：服务商模板参数取自哪些 Dunlin 变量（customer_name、total、amount、currency、"
    "days_overdue、invoice_count、invoice_numbers、first_invoice、oldest_due_on、payment_url、"
    "self_service_url、org_name、salesperson_name）",
)

CATALOG: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "outbox",
            "writes each message to a file in the outbox directory (.eml for email, JSON "
            "otherwise); what a channel with no config does",
            "把每条消息写入发件箱目录的文件（邮件为 .eml，其余为 JSON）；未配置的渠道即如此",
            (),
            (),
            "dunlin channels add sms --provider outbox",
        ),
        Provider(
            "smtp",
            "email over your SMTP server",
            "通过贵司的 SMTP 服务器发送邮件",
            (
                Setting("host", None, "SMTP server name", "SMTP 服务器地址"),
                Setting(
                    "from",
                    None,
                    'sender, e.g. "Acme AR <ar@example.com>"',
                    '发件人，如 "Acme 应收 <ar@example.com>"',
                ),
                Setting(
                    "security",
                    "starttls",
                    "starttls (port 587), ssl (implicit TLS, port 465) or none (plain, port 25: "
                    "a relay on localhost or a test server)",
                    "starttls（端口 587）、ssl（直接 TLS，端口 465）或 none（明文，端口 25：本机中继或测试服务器）",
                ),
                Setting(
                    "port",
                    "587 / 465 / 25",
                    "by security: starttls 587, ssl 465, none 25",
                    "按 security：starttls 587，ssl 465，none 25",
                ),
                _opt(
                    "username", "login name; without it no login is tried", "登录名；不设则不登录"
                ),
                _opt(
                    "domain",
                    "domain of Message-IDs (default: the sender's)",
                    "Message-ID 的域名（默认取发件人域名）",
                ),
                _opt("reply_to", "Reply-To address", "回复地址（Reply-To）"),
                _opt(
                    "unsubscribe_url",
                    "List-Unsubscribe URL; {key} becomes the reminder's key",
                    "List-Unsubscribe 链接；{key} 替换为提醒的键",
                ),
                _opt(
                    "unsubscribe_mailto",
                    "List-Unsubscribe mailto: address",
                    "List-Unsubscribe 的 mailto: 地址",
                ),
                Setting("timeout", "30", "seconds to wait for the server", "等待服务器响应的秒数"),
                Setting("verify_tls", "true", "check the server's certificate", "校验服务器证书"),
                Setting(
                    "max_per_connection",
                    "100",
                    "messages per connection before reconnecting",
                    "每个连接发送多少封后重连",
                ),
                RATE,
            ),
            (_opt("password", "password of `username`", "username 的密码"),),
            "DUNLIN_SECRET_PASSWORD=… dunlin channels add email --provider smtp "
            '--set host=smtp.example.com --set from="Acme AR <ar@example.com>" '
            "--set username=ar@example.com --secret password",
            (
                (
                    "A test server or local relay without TLS needs --set security=none; "
                    "with --set security=ssl the port becomes 465.",
                    "不支持 TLS 的测试服务器或本机中继需 --set security=none；security=ssl 时端口为 465。",
                ),
            ),
        ),
        Provider(
            "aliyun_sms",
            "SMS through Alibaba Cloud (阿里云短信), with approved templates",
            "阿里云短信，使用已审核的模板",
            (
                Setting("access_key_id", None, "AccessKey ID", "AccessKey ID"),
                Setting("sign_name", None, "approved signature (签名)", "已审核的短信签名"),
                TEMPLATES,
                PARAMS,
                Setting("endpoint", "https://dysmsapi.aliyuncs.com", "API endpoint", "API 地址"),
                TIMEOUT,
                _opt(
                    "per_number_per_day",
                    "most messages per number and template a day",
                    "每个号码每个模板每天最多条数",
                ),
                RATE,
            ),
            (Setting("access_key_secret", None, "AccessKey secret", "AccessKey Secret"),),
            "DUNLIN_SECRET_ACCESS_KEY_SECRET=… dunlin channels add sms --provider aliyun_sms "
            "--set access_key_id=LTAI… --set sign_name=Acme --set templates.reminder=SMS_123 "
            '--set params=\'{"name": "customer_name", "amount": "total"}\' '
            "--secret access_key_secret",
        ),
        Provider(
            "tencent_sms",
            "SMS through Tencent Cloud (腾讯云短信), with approved templates",
            "腾讯云短信，使用已审核的模板",
            (
                Setting("secret_id", None, "SecretId", "SecretId"),
                Setting("sdk_app_id", None, "SMS SdkAppId", "短信 SdkAppId"),
                Setting("sign_name", None, "approved signature", "已审核的短信签名"),
                TEMPLATES,
                _opt(
                    "params",
                    "JSON list: the template's parameters in order, as Dunlin variables",
                    "JSON 列表：模板参数依次取自哪些 Dunlin 变量",
                ),
                Setting("host", "sms.tencentcloudapi.com", "API host", "API 主机"),
                Setting("region", "ap-guangzhou", "API region", "API 地域"),
                TIMEOUT,
                _opt(
                    "per_number_per_day", "most messages per number a day", "每个号码每天最多条数"
                ),
            ),
            (Setting("secret_key", None, "SecretKey", "SecretKey"),),
            "DUNLIN_SECRET_SECRET_KEY=… dunlin channels add sms --provider tencent_sms "
            "--set secret_id=AKID… --set sdk_app_id=1400000000 --set sign_name=Acme "
            '--set templates.reminder=123456 --set params=\'["customer_name", "total"]\' '
            "--secret secret_key",
        ),
        Provider(
            "twilio",
            "SMS through Twilio",
            "通过 Twilio 发送短信",
            (
                Setting("account_sid", None, "Account SID (AC…)", "Account SID（AC…）"),
                _opt(
                    "from",
                    "sender number; or messaging_service_sid",
                    "发送号码；或设 messaging_service_sid",
                ),
                _opt(
                    "messaging_service_sid",
                    "Messaging Service SID (MG…) instead of from",
                    "Messaging Service SID（MG…），代替 from",
                ),
                _opt(
                    "api_key_sid",
                    "API key SID (SK…) to log in with instead of the account",
                    "以 API Key SID（SK…）代替账号登录",
                ),
                _opt("status_callback", "URL for delivery receipts", "送达回执 URL"),
                Setting("base_url", "https://api.twilio.com", BASE_URL, BASE_URL_ZH),
                Setting("timeout", "15", "seconds to wait for Twilio", "等待 Twilio 响应的秒数"),
                RATE,
            ),
            (
                Setting(
                    "auth_token",
                    None,
                    "auth token (or the API key's secret)",
                    "Auth Token（或 API Key 的密钥）",
                ),
            ),
            "DUNLIN_SECRET_AUTH_TOKEN=… dunlin channels add sms --provider twilio "
            "--set account_sid=AC… --set from=+15550001111 --secret auth_token",
        ),
        Provider(
            "wecom_app",
            "WeCom (企业微信) application messages to the customer's WeCom user id",
            "企业微信应用消息，发往客户的企业微信账号",
            (
                Setting("corp_id", None, "CorpID", "企业 ID（CorpID）"),
                Setting("agent_id", None, "AgentId of the application", "应用的 AgentId"),
                Setting(
                    "msgtype",
                    "textcard",
                    "text, markdown or textcard",
                    "text、markdown 或 textcard",
                ),
                Setting("base_url", "https://qyapi.weixin.qq.com", BASE_URL, BASE_URL_ZH),
                TIMEOUT,
            ),
            (Setting("secret", None, "the application's Secret", "应用的 Secret"),),
            "DUNLIN_SECRET_SECRET=… dunlin channels add wecom --provider wecom_app "
            "--set corp_id=ww… --set agent_id=1000002 --secret secret",
        ),
        Provider(
            "wecom_robot",
            "a WeCom group robot (群机器人): one group gets every message",
            "企业微信群机器人：所有消息发到同一个群",
            (
                Setting("msgtype", "text", "text or markdown", "text 或 markdown"),
                Setting("base_url", "https://qyapi.weixin.qq.com", BASE_URL, BASE_URL_ZH),
                TIMEOUT,
            ),
            (
                Setting(
                    "key", None, "the key in the robot's webhook URL", "机器人 Webhook 地址中的 key"
                ),
            ),
            "dunlin channels add wecom --provider wecom_robot --set msgtype=markdown --secret key",
            (
                (
                    "The key is asked for without echo: DUNLIN_SECRET_KEY is Dunlin's own key, "
                    "never read as this secret.",
                    "key 会提示输入（不回显）：DUNLIN_SECRET_KEY 是 Dunlin 自己的密钥，不会被当作此项读取。",
                ),
            ),
        ),
        Provider(
            "wechat_template",
            "WeChat Official Account template messages (公众号模板消息) to the customer's openid",
            "微信公众号模板消息，发往客户的 openid",
            (
                Setting("app_id", None, "AppID of the official account", "公众号 AppID"),
                TEMPLATES,
                PARAMS,
                Setting("base_url", "https://api.weixin.qq.com", BASE_URL, BASE_URL_ZH),
                TIMEOUT,
            ),
            (Setting("app_secret", None, "AppSecret", "AppSecret"),),
            "DUNLIN_SECRET_APP_SECRET=… dunlin channels add wechat --provider wechat_template "
            "--set app_id=wx… --set templates.reminder=TEMPLATE_ID "
            '--set params=\'{"thing1": "customer_name", "amount2": "total"}\' '
            "--secret app_secret",
        ),
        Provider(
            "dingtalk_robot",
            "a DingTalk group robot (钉钉群机器人)",
            "钉钉群机器人",
            (
                Setting("base_url", "https://oapi.dingtalk.com", BASE_URL, BASE_URL_ZH),
                TIMEOUT,
            ),
            (
                Setting(
                    "access_token",
                    None,
                    "access_token of the robot's webhook URL",
                    "机器人 Webhook 地址中的 access_token",
                ),
                _opt(
                    "secret",
                    "SEC… signing secret, when the robot signs",
                    "机器人启用加签时的 SEC… 密钥",
                ),
            ),
            "DUNLIN_SECRET_ACCESS_TOKEN=… DUNLIN_SECRET_SECRET=SEC… dunlin channels add dingtalk "
            "--provider dingtalk_robot --secret access_token --secret secret",
        ),
        Provider(
            "dingtalk_work",
            "DingTalk work notices (工作通知) to the customer's DingTalk user id",
            "钉钉工作通知，发往客户的钉钉用户 ID",
            (
                Setting("app_key", None, "AppKey", "AppKey"),
                Setting("agent_id", None, "AgentId", "AgentId"),
                Setting("base_url", "https://oapi.dingtalk.com", BASE_URL, BASE_URL_ZH),
                TIMEOUT,
            ),
            (Setting("app_secret", None, "AppSecret", "AppSecret"),),
            "DUNLIN_SECRET_APP_SECRET=… dunlin channels add dingtalk --provider dingtalk_work "
            "--set app_key=ding… --set agent_id=123456789 --secret app_secret",
        ),
        Provider(
            "fcm",
            "push notifications through Firebase Cloud Messaging",
            "通过 Firebase Cloud Messaging 推送通知",
            (
                _opt(
                    "project_id",
                    "Firebase project (default: the service account's)",
                    "Firebase 项目（默认取服务账号中的）",
                ),
                Setting("base_url", "https://fcm.googleapis.com", BASE_URL, BASE_URL_ZH),
                TIMEOUT,
            ),
            (
                Setting(
                    "service_account",
                    None,
                    "the service account's JSON key",
                    "服务账号的 JSON 密钥",
                ),
            ),
            'DUNLIN_SECRET_SERVICE_ACCOUNT="$(cat sa.json)" dunlin channels add push '
            "--provider fcm --secret service_account",
        ),
        Provider(
            "jpush",
            "push notifications through JPush (极光推送)",
            "极光推送",
            (
                Setting("app_key", None, "AppKey", "AppKey"),
                Setting(
                    "apns_production",
                    "true",
                    "iOS: production (true) or development APNs",
                    "iOS：生产（true）或开发环境 APNs",
                ),
                Setting("url", "https://api.jpush.cn/v3/push", "push API URL", "推送 API 地址"),
                TIMEOUT,
            ),
            (Setting("master_secret", None, "Master Secret", "Master Secret"),),
            "DUNLIN_SECRET_MASTER_SECRET=… dunlin channels add push --provider jpush "
            "--set app_key=… --secret master_secret",
        ),
        Provider(
            "webhook",
            "a signed JSON POST to your own endpoint, which delivers the message",
            "向贵司自己的接口发送签名的 JSON POST，由其投递",
            (
                Setting("url", None, "endpoint that receives the POST", "接收 POST 的接口地址"),
                TIMEOUT,
                RATE,
            ),
            (
                Setting(
                    "signing_secret",
                    None,
                    "HMAC key the endpoint checks the signature with",
                    "接口校验签名用的 HMAC 密钥",
                ),
            ),
            "DUNLIN_SECRET_SIGNING_SECRET=… dunlin channels add sms --provider webhook "
            "--set url=https://hooks.example.com/dunlin --secret signing_secret",
        ),
    )
}


def when(setting: Setting, zh: bool = False) -> str:
    """ "required", "optional" or "default X", in the reader's language."""
    if setting.required:
        return "必填" if zh else "required"
    if setting.default is None:
        return "可选" if zh else "optional"
    return ("默认 " if zh else "default ") + setting.default


def markdown(lang: str) -> str:
    """docs/channels.md's section in one language (en or zh), from this catalog."""
    zh = lang == "zh"
    out: list[str] = []
    for p in CATALOG.values():
        out += [f"### `{p.name}`", "", (p.zh if zh else p.en) + ("。" if zh else "."), ""]
        head = "| 设置 | 默认 | 含义 |" if zh else "| setting | default | meaning |"
        rows = [f"| `{s.name}` | {when(s, zh)} | {s.zh if zh else s.en} |" for s in p.settings]
        if rows:
            out += [head, "|---|---|---|", *rows, ""]
        secrets = [f"| `{s.name}` | {when(s, zh)} | {s.zh if zh else s.en} |" for s in p.secrets]
        if secrets:
            out += [
                "| 密钥（--secret） | | 含义 |" if zh else "| secret (--secret) | | meaning |",
                "|---|---|---|",
                *secrets,
                "",
            ]
        out += [zh_note if zh else en for en, zh_note in p.notes]
        if p.notes:
            out.append("")
        out += ["```sh", p.example, "```", ""]
    return "\n".join(out)
