from decimal import Decimal

from mappings import load_mapping
from mappings.transform import RowTransformer

ROW = {
    "客户编码": "C1",
    "客户名称": "上海某某",
    "邮箱": "A@X.CN",
    "手机": "13812345678",
    "语言": "英文",
    "客户等级": "重要",
    "标签": "vip",
    "销售负责人": "张伟",
    "销售工号": "S01",
    "企业微信": "",
    "偏好渠道": "短信",
    "单据编号": "AR-1",
    "币别": "",
    "价税合计": "¥1,000.00",
    "未收金额": "",
    "业务日期": "2026年1月1日",
    "到期日": "2026年1月31日",
    "状态": "",
    "付款链接": "",
}


def test_row_becomes_typed_records_with_derived_fields():
    result = RowTransformer(load_mapping("spreadsheet-zh")).transform(dict(ROW))
    assert result.errors == []
    assert result.customer["tier"] == "A"
    assert result.customer["language"] == "en_US"
    assert result.customer["email"] == "a@x.cn"
    assert result.customer["channel_preferences"] == ["sms"]
    assert "wecom_userid" not in result.customer  # blank cells are left out, not blanked
    rec = result.receivable
    assert rec["currency"] == "CNY"  # the column default
    assert rec["amount_open"] == Decimal("1000.00")  # defaults to the total
    assert rec["status"] == "open"
    assert rec["number"] == "AR-1"


def test_paid_when_nothing_open_and_errors_name_column_and_field():
    t = RowTransformer(load_mapping("spreadsheet-zh"))
    paid = t.transform({**ROW, "未收金额": "0"})
    assert paid.receivable["status"] == "paid"
    bad = t.transform({**ROW, "到期日": "soon", "价税合计": "lots"})
    assert {(e.column, e.field) for e in bad.errors} == {
        ("到期日", "due_on"),
        ("价税合计", "amount_total"),
    }


def test_missing_required_value_and_open_above_total():
    t = RowTransformer(load_mapping("spreadsheet-zh"))
    missing = t.transform({**ROW, "客户名称": "  "})
    assert [e.field for e in missing.errors] == ["name"]
    over = t.transform({**ROW, "未收金额": "2000"})
    assert [e.field for e in over.errors] == ["amount_open"]
