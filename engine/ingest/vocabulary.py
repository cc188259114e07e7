"""Header synonyms (English and Chinese) and event-type vocabularies of common exports."""

from __future__ import annotations

import re

#: Fields an import can fill, in the order the mapping editor shows them, with what each means.
FIELDS: dict[str, str] = {
    "user_id": "Who did it (required)",
    "event_time": "When (required)",
    "event_type": "What they did (view, cart, purchase ...)",
    "item_id": "Product / SKU",
    "category": "Product category",
    "content_id": "Post, article, video or live stream",
    "campaign_id": "Campaign or coupon batch",
    "channel": "Channel (WeChat group, Douyin ...)",
    "community_id": "Community / private group",
    "referrer_id": "User who shared the link",
    "session_id": "Session",
    "order_id": "Order / transaction / invoice",
    "quantity": "Quantity",
    "amount": "Amount paid (line total)",
    "price": "Unit price",
    "event_id": "Event id in the source system",
    "item_name": "Product name / description",
    "brand": "Brand",
    "gender": "Gender",
    "age_band": "Age or age band",
    "city": "City",
    "converted": "Conversion flag: a set flag adds a second event (is_attributed, converted ...)",
    "conversion_time": "Time of the conversion (else the row's time)",
    "experiment": "A/B experiment (assignment files)",
    "variant": "Experiment variant (assignment files)",
}
REQUIRED_FIELDS = ("user_id", "event_time")

_HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "userid", "user", "uid", "visitorid", "visitor_id", "customerid",
                "customer_id", "customer", "member_id", "memberid", "buyer_id", "buyerid", "openid",
                "unionid", "用户id", "用户", "用户编号", "会员id", "会员", "客户id", "客户", "顾客id",
                "买家id", "买家"),
    "event_time": ("event_time", "time", "timestamp", "datetime", "date", "ts", "created_at",
                   "occurred_at", "event_date", "invoicedate", "invoice_date", "order_date",
                   "order_time", "时间", "行为时间", "日期", "发生时间", "下单时间", "时间戳", "创建时间",
                   "支付时间"),
    "event_type": ("event_type", "event", "behavior", "behaviour", "behavior_type",
                   "behaviour_type", "action", "type", "行为类型", "行为", "事件", "事件类型", "动作"),
    "item_id": ("item_id", "itemid", "item", "product_id", "productid", "product", "sku", "sku_id",
                "stockcode", "stock_code", "goods_id", "商品id", "商品", "商品编号", "sku编号"),
    "category": ("category", "category_id", "categoryid", "cat", "cate_id", "category_code",
                 "类目", "类目id", "品类", "分类"),
    "content_id": ("content_id", "post_id", "article_id", "note_id", "video_id", "live_id",
                   "内容id", "文章id", "笔记id", "帖子id"),
    "campaign_id": ("campaign", "campaign_id", "activity_id", "coupon_id", "活动", "活动id", "优惠券id"),
    "channel": ("channel", "source", "utm_source", "traffic_source", "渠道", "来源", "流量来源"),
    "community_id": ("community_id", "community", "group_id", "group", "群id", "社群", "群", "社群id"),
    "referrer_id": ("referrer_id", "referrer", "inviter_id", "inviter", "shared_by", "分享人",
                    "推荐人", "邀请人"),
    "session_id": ("session_id", "session", "user_session", "会话", "会话id"),
    "order_id": ("order_id", "orderid", "order", "transactionid", "transaction_id", "invoice",
                 "invoiceno", "invoice_no", "订单号", "订单id", "订单编号"),
    "quantity": ("quantity", "qty", "count", "数量", "件数", "购买数量"),
    "amount": ("amount", "total", "revenue", "gmv", "order_amount", "payment", "paid",
               "金额", "实付金额", "订单金额", "支付金额", "销售额", "实付款"),
    "price": ("price", "unit_price", "unitprice", "单价", "价格", "商品价格"),
    "event_id": ("event_id", "eventid", "事件id"),
    "item_name": ("description", "item_name", "product_name", "title", "商品名称", "名称", "商品名"),
    "brand": ("brand", "品牌"),
    "gender": ("gender", "sex", "性别"),
    "age_band": ("age", "age_band", "age_group", "年龄", "年龄段"),
    "city": ("city", "城市"),
    "experiment": ("experiment", "experiment_name", "experiment_id", "ab_test", "test_name", "实验",
                   "实验名称", "实验名"),
    "variant": ("variant", "variant_name", "bucket", "arm", "treatment_group", "分组", "组别", "实验组"),
}


#: Contact columns that identify a person when a file has no id column (pseudonymised on import).
CONTACT_HEADERS = ("phone", "mobile", "phonenumber", "tel", "email", "mail", "wechatid", "wechat",
                   "weixin", "openid", "手机号", "手机", "手机号码", "电话", "邮箱", "微信号", "微信")


def normalise_header(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", str(name).strip().lower())


_BY_HEADER = {normalise_header(s): f for f, names in _HEADER_SYNONYMS.items() for s in names}


def field_for_header(name: str) -> str | None:
    """The canonical field a column header stands for, or None."""
    return _BY_HEADER.get(normalise_header(name))


def is_contact_header(name: str) -> bool:
    return normalise_header(name) in CONTACT_HEADERS


#: Weaker clues, used only for fields no header names outright (see :func:`guess_field_for_header`).
_MONEY_WORDS = ("value", "amount", "revenue", "sales", "total", "payment", "price_paid", "金额", "实付", "支付",
                "销售额", "营业额")
_NOT_MONEY_WORDS = ("time", "date", "type", "method", "status", "channel", "id", "时间", "日期", "方式", "状态",
                    "渠道")
_QUANTITY_WORDS = ("qty", "quantity", "数量", "件数")
_QUANTITY_PREFIXES = ("number_of", "numberof", "num_", "no_of", "nb_", "count_of")
#: identifiers of a device, a browser or an account of a platform, best first; an IP address last
DEVICE_USER_HEADERS = ("openid", "unionid", "visitorid", "visitor", "deviceid", "idfa", "idfv", "imei",
                       "oaid", "androidid", "cookieid", "cookie", "clientid", "anonymousid", "guestid",
                       "设备id", "设备号", "访客id", "ip", "ipaddress", "ipaddr", "clientip")
CONVERSION_FLAG_HEADERS = ("isattributed", "attributed", "converted", "isconverted", "conversion",
                           "ispaid", "haspaid", "ispurchased", "purchased", "是否成交", "是否支付", "是否购买",
                           "是否转化", "是否下单")
#: values of a conversion flag; any other value is a rejected row
FLAG_TRUE = ("1", "1.0", "true", "t", "yes", "y", "是", "已成交", "成交", "已支付", "已转化", "已购买")
FLAG_FALSE = ("0", "0.0", "false", "f", "no", "n", "否", "未成交", "未支付", "未转化", "未购买")


def _words(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", str(name).strip().lower())


def guess_field_for_header(name: str) -> str | None:
    """A field a header probably stands for when no header names it outright: money, a quantity,
    a time (``*_time``, ``*_at``, ``ts``) or a device / visitor id as the user."""
    words = _words(name)
    norm = normalise_header(name)
    if norm in DEVICE_USER_HEADERS:
        return "user_id"
    if words in ("ts",) or words.endswith(("_time", "_at", "_ts", "_timestamp", "_datetime", "_date")) \
            or norm.endswith(("时间", "日期")):
        return "event_time"
    if any(w in words for w in _QUANTITY_WORDS) or words.startswith(_QUANTITY_PREFIXES):
        return "quantity"
    if any(w in words for w in _MONEY_WORDS) and not any(
            w in words.replace("_", " ").split() or (not w.isascii() and w in words) for w in _NOT_MONEY_WORDS):
        return "amount"
    return None


def is_conversion_flag_header(name: str) -> bool:
    return normalise_header(name) in CONVERSION_FLAG_HEADERS


#: Source event names (lower case) -> canonical event type.
EVENT_VOCABULARY: dict[str, str] = {
    **dict.fromkeys(("pv", "view", "page_view", "pageview", "detail", "view_item", "浏览", "查看"), "view"),
    **dict.fromkeys(("click", "clk", "点击"), "click"),
    **dict.fromkeys(("cart", "addtocart", "add_to_cart", "add-to-cart", "加购", "加入购物车"), "cart"),
    **dict.fromkeys(("fav", "favorite", "favourite", "collect", "收藏"), "fav"),
    **dict.fromkeys(("buy", "purchase", "transaction", "pay", "paid", "order", "购买", "下单",
                     "支付", "成交"), "purchase"),
    **dict.fromkeys(("refund", "return", "cancel", "退款", "退货"), "refund"),
    **dict.fromkeys(("share", "分享", "转发"), "share"),
    **dict.fromkeys(("comment", "评论"), "comment"),
    **dict.fromkeys(("like", "点赞"), "like"),
    **dict.fromkeys(("impression", "expose", "exposure", "曝光", "展现"), "impression"),
    **dict.fromkeys(("join_group", "入群", "加群"), "join_group"),
    **dict.fromkeys(("coupon_issue", "领券", "发券"), "coupon_issue"),
    **dict.fromkeys(("coupon_redeem", "用券", "核销"), "coupon_redeem"),
    **dict.fromkeys(("signup", "register", "注册"), "signup"),
}

#: Header words that mark personal data, pseudonymised on import unless the plan says otherwise.
PERSONAL_HEADER_WORDS = ("phone", "mobile", "tel", "email", "mail", "wechat", "weixin", "openid",
                         "unionid", "手机", "电话", "邮箱", "微信")
PERSONAL_VALUE = re.compile(
    r"^(\+?86[- ]?)?1[3-9]\d{9}$"          # mainland mobile number
    r"|^\+?\d[\d -]{8,}\d$"                 # other phone numbers
    r"|^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"    # e-mail
    r"|^wxid_[A-Za-z0-9_-]+$|^o[A-Za-z0-9_-]{27}$"  # WeChat id / OpenID
)
