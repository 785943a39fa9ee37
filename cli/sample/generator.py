"""A deterministic, realistic sample: Chinese and English customers, tiers A/B/C, receivables
paid, open, partly paid and not yet due — written as the Chinese AR export that the shipped
`spreadsheet-zh` mapping reads (dates like 2026年3月5日, amounts like ¥1,234.50).

Same seed and anchor date → byte-identical file, so the demo is repeatable.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

DEMO_ANCHOR = date(2026, 12, 1)
HEADER = [
    "客户编码",
    "客户名称",
    "邮箱",
    "手机",
    "语言",
    "客户等级",
    "标签",
    "销售负责人",
    "销售工号",
    "企业微信",
    "偏好渠道",
    "单据编号",
    "币别",
    "价税合计",
    "未收金额",
    "业务日期",
    "到期日",
    "状态",
    "付款链接",
]

_CITIES = [
    "上海",
    "北京",
    "深圳",
    "广州",
    "杭州",
    "苏州",
    "成都",
    "武汉",
    "南京",
    "宁波",
    "厦门",
    "青岛",
]
_WORDS = [
    "华信",
    "宏达",
    "瑞丰",
    "金桥",
    "恒通",
    "远航",
    "中联",
    "鼎盛",
    "博远",
    "新锐",
    "天成",
    "永泰",
    "嘉禾",
    "明德",
    "安捷",
    "汇丰源",
    "东方",
    "益民",
]
_TRADES = ["科技", "贸易", "电子", "机械", "物流", "包装", "建材", "化工", "医疗器械", "食品"]
_EN_FIRST = [
    "Acme",
    "Northwind",
    "Blue Harbor",
    "Summit",
    "Evergreen",
    "Pioneer",
    "Silverline",
    "Redwood",
    "Atlas",
    "Orchid",
    "Harbor Bridge",
    "Kestrel",
]
_EN_KIND = ["Trading", "Industries", "Logistics", "Electronics", "Supplies", "Foods"]
_EN_SUFFIX = ["Ltd", "Co., Ltd", "Pte Ltd", "GmbH", "LLC"]
_SALES = [
    ("S001", "张伟"),
    ("S002", "王芳"),
    ("S003", "李娜"),
    ("S004", "刘洋"),
    ("S005", "Chen Jie"),
]
_MOBILE_PREFIXES = ["138", "139", "186", "137", "150", "152", "187", "135"]


def _money(amount: Decimal, currency: str, rng: random.Random) -> str:
    symbol = {"CNY": "¥", "USD": "$"}[currency]
    if rng.random() < 0.3:
        return f"{amount:.2f}"
    return f"{symbol}{amount:,.2f}"


def _day(day: date, rng: random.Random) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if rng.random() < 0.6 else day.isoformat()


def generate(
    path: Path, customers: int = 240, anchor: date = DEMO_ANCHOR, seed: int = 20261201
) -> int:
    """Write the sample CSV; returns the number of receivable rows (about 5 per customer)."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for n in range(1, customers + 1):
        english = rng.random() < 0.25
        if english:
            name = f"{rng.choice(_EN_FIRST)} {rng.choice(_EN_KIND)} {rng.choice(_EN_SUFFIX)} #{n}"
        else:
            name = f"{rng.choice(_CITIES)}{rng.choice(_WORDS)}{rng.choice(_TRADES)}有限公司（{n}）"
        code = f"C{n:04d}"
        tier = rng.choices(["重要", "普通", "一般"], weights=[2, 5, 3])[0]
        email = f"ar{n}@customer{n}.example.com" if rng.random() < 0.85 else ""
        mobile = (
            f"{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
            if rng.random() < 0.8
            else ""
        )
        wecom = f"wx_{code.lower()}" if rng.random() < 0.2 else ""
        preference = (
            rng.choice(["", "", "", "短信", "邮件", "企业微信"]) if (mobile or wecom) else ""
        )
        sales_id, sales_name = rng.choice(_SALES)
        tags = rng.choice(["", "", "vip", "新客户", "vip,长期合作"])
        currency = "USD" if english and rng.random() < 0.5 else "CNY"
        for k in range(1, rng.randint(2, 8) + 1):
            due = anchor + timedelta(days=round(rng.triangular(-100, 40, 15)))
            issued = due - timedelta(days=rng.choice([30, 45, 60]))
            total = Decimal(rng.randrange(50_000, 5_000_000)) / 100
            roll = rng.random()
            if roll < 0.2:
                status, open_amount = "已收款", Decimal(0)
            elif roll < 0.3:
                status, open_amount = (
                    "部分收款",
                    (total * Decimal(rng.choice(["0.3", "0.5", "0.8"]))).quantize(Decimal("0.01")),
                )
            else:
                status, open_amount = "未收款", total
            number = f"AR{anchor.year}{n:04d}{k:02d}"
            link = f"https://pay.example.com/i/{number}" if rng.random() < 0.5 else ""
            rows.append(
                [
                    code,
                    name,
                    email,
                    mobile,
                    "英文" if english else "中文",
                    tier,
                    tags,
                    sales_name,
                    sales_id,
                    wecom,
                    preference,
                    number,
                    currency,
                    _money(total, currency, rng),
                    _money(open_amount, currency, rng),
                    _day(issued, rng),
                    _day(due, rng),
                    status,
                    link,
                ]
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return len(rows)
