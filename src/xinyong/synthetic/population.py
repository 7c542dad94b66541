"""Deterministic subjects of a synthetic city.

Subject ``i`` is computed from (seed, i) alone, so any number of subjects can be produced or
re-produced in any order without holding them in memory. Names and codes are unique by
construction (mixed-radix decoding of a permuted index), not by checking a set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

from faker import Faker
from stdnum.cn import ric, uscc
from stdnum.iso7064 import mod_11_10

from xinyong.identity.codes import org_code_check_char

CITY = ("440600", "佛山市")
DISTRICTS = [  # code, name, weight
    ("440604", "禅城区", 0.18),
    ("440605", "南海区", 0.32),
    ("440606", "顺德区", 0.30),
    ("440607", "三水区", 0.10),
    ("440608", "高明区", 0.10),
]
# Share of each kind among organisations and individual businesses.
KIND_MIX = [
    (("legal_entity", "enterprise"), 0.62),
    (("individual_business", None), 0.30),
    (("legal_entity", "public_institution"), 0.03),
    (("legal_entity", "social_org"), 0.03),
    (("legal_entity", "government"), 0.02),
]
# De-duplicated: the brand of subject i must be a bijection of its index.
_BRAND_CHARS = "".join(dict.fromkeys(
    "华鑫恒泰宏达盛隆兴发瑞丰嘉禾汇通永利金源广信安康佳美德润天成民顺和中联新科卓越宝鼎富海东方南粤"
    "珠江明祥云凯旋博雅锦绣腾飞远航晨光星辰宇辉鹏程正道合力诚立万家振邦隆昌荣晟彩虹伟业俊豪骏联创"
    "智慧鸿运长青松柏志远铭亿辰佳鹰威力奥普锐达"))
_INDUSTRIES = [
    ("五金制品", "C"), ("陶瓷", "C"), ("家具", "C"), ("电器", "C"), ("机械设备", "C"), ("塑料制品", "C"),
    ("纺织服装", "C"), ("铝型材", "C"), ("食品", "C"), ("建材", "F"), ("建筑工程", "E"), ("装饰工程", "E"),
    ("物流", "G"), ("运输", "G"), ("贸易", "F"), ("电子商务", "F"), ("餐饮管理", "H"), ("酒店管理", "H"),
    ("信息科技", "I"), ("软件开发", "I"), ("网络科技", "I"), ("房地产开发", "K"), ("物业管理", "K"),
    ("投资咨询", "L"), ("人力资源服务", "L"), ("广告传媒", "L"), ("环保科技", "N"), ("医疗器械", "C"),
    ("医药", "F"), ("生物科技", "M"), ("新材料", "C"), ("照明电器", "C"), ("模具", "C"), ("印刷包装", "C"),
    ("汽车销售", "F"), ("汽车维修", "O"), ("教育咨询", "P"), ("文化传播", "R"), ("旅行社", "L"),
    ("农业发展", "A"), ("水产养殖", "A"), ("化工", "C"), ("钢铁贸易", "F"), ("燃气", "D"), ("供水", "D"),
]
_FORMS = ["有限公司", "有限责任公司", "股份有限公司", "实业有限公司"]
_SHOPS = ["便利店", "五金店", "餐饮店", "小食店", "粉面店", "理发店", "服装店", "水果店", "烟酒商行",
          "汽车维修部", "电器维修部", "建材经营部", "日用品店", "药店", "茶行", "家具店", "陶瓷经营部",
          "快餐店", "烧腊店", "奶茶店", "美容院", "洗衣店", "文具店", "花店", "眼镜店", "鞋店", "手机店",
          "母婴用品店", "宠物店", "打印店", "照相馆", "面包店", "海鲜档", "猪肉档", "蔬菜档", "粮油店",
          "灯饰店", "布艺店", "钟表店", "工艺品店", "超市", "酒家", "茶餐厅", "干洗店", "装修队"]
# Towns and sub-districts (镇街), one per industry slot so institution names stay unique.
_TOWNS = ["祖庙", "石湾", "张槎", "南庄", "桂城", "九江", "西樵", "丹灶", "狮山", "大沥", "里水", "大良", "容桂",
          "伦教", "勒流", "陈村", "均安", "杏坛", "龙江", "乐从", "北滘", "西南", "云东海", "白坭", "芦苞",
          "大塘", "乐平", "南山", "荷城", "杨和", "明城", "更合", "罗村", "松岗", "官窑", "和顺", "平洲",
          "盐步", "黄岐", "沙头", "金沙", "九江北", "龙山", "容奇", "桂洲"]
_STREETS = ["季华路", "汾江中路", "佛山大道", "岭南大道", "南海大道", "桂城大道", "海八路", "广佛公路",
            "顺德大道", "容桂大道", "三水大道", "荷富路", "沧江路", "魁奇路", "文华路", "祖庙路", "东平路",
            "裕和路", "灯湖东路", "海三路", "狮山大道", "伦教大道", "大良新城路", "北滘新城路", "乐从大道",
            "西南大道", "云东海大道", "高明大道", "荷城中路", "杨和大道", "张槎路", "石湾路", "澜石大道"]
_INSTITUTIONS = ["小学", "中学", "幼儿园", "社区卫生服务中心", "文化站", "农业技术推广站", "养老服务中心",
                 "职业培训中心"]
_SOCIAL = ["行业协会", "商会", "促进会", "联合会", "研究会", "发展协会", "服务中心", "培训学校"]
_SHOP_VARIANTS = ["", "（个体工商户）", "分店", "二店"]
_GOV = ["{b}镇人民政府", "{b}街道办事处", "{b}村民委员会", "{b}社区居民委员会"]
_STATUS = [("存续", 0.90), ("注销", 0.06), ("吊销未注销", 0.02), ("迁出", 0.02)]

_ORG_TYPE_CODES = {  # (registration authority, organisation type) per GB 32100
    "enterprise": ("9", "1"),
    None: ("9", "2"),
    "public_institution": ("1", "2"),
    "social_org": ("5", "1"),
    "government": ("1", "1"),
}


@dataclass(frozen=True)
class SyntheticSubject:
    index: int
    kind: str
    org_type: str | None
    name: str
    uscc: str | None
    org_code: str | None
    reg_no: str | None
    region: str
    district: str
    legal_rep: str
    legal_rep_id: str
    address: str
    established: date
    capital: float | None
    status: str
    industry: str
    phone: str
    citizen_id: str | None = None


def _pick(rng: random.Random, weighted):
    x = rng.random()
    acc = 0.0
    for value, w in weighted:
        acc += w
        if x < acc:
            return value
    return weighted[-1][0]


class _Permutation:
    """A bijection on [0, n): i -> (i * a + b) mod n with gcd(a, n) == 1."""

    def __init__(self, n: int, seed: int) -> None:
        rng = random.Random(seed)
        self.n = n
        a = rng.randrange(1, n) if n > 1 else 1
        while _gcd(a, n) != 1:
            a += 1
        self.a, self.b = a % max(n, 1) or 1, rng.randrange(n) if n > 1 else 0

    def __call__(self, i: int) -> int:
        return (i * self.a + self.b) % self.n


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _digits(value: int, radices: list[int]) -> list[int]:
    out = []
    for r in radices:
        out.append(value % r)
        value //= r
    return out


class Population:
    def __init__(self, n_subjects: int, seed: int, *, n_persons: int | None = None) -> None:
        self.n_subjects = n_subjects
        self.seed = seed
        self.n_persons = n_persons if n_persons is not None else max(200, n_subjects // 5)
        self._org_perm = _Permutation(90_000_000, seed * 7 + 1)  # 8-digit org code bodies
        self._id_perm = _Permutation(20_000 * 1000, seed * 7 + 2)
        brands = len(_BRAND_CHARS)
        self._brand_count = brands * (brands - 1)
        self._name_radix = [self._brand_count, len(_INDUSTRIES), len(_FORMS), 2]
        cap = 1
        for r in self._name_radix:
            cap *= r
        self._name_perm = _Permutation(cap, seed * 7 + 3)
        if n_subjects > cap:
            raise ValueError(f"at most {cap} synthetic subjects are supported")

    @cached_property
    def _pools(self) -> dict[str, list[str]]:
        fake = Faker("zh_CN")
        fake.seed_instance(self.seed)
        return {
            "names": [fake.name() for _ in range(4000)],
        }

    def _brand(self, k: int) -> str:
        n = len(_BRAND_CHARS)
        a, b = divmod(k, n - 1)
        b = b if b < a else b + 1  # two different characters
        return _BRAND_CHARS[a] + _BRAND_CHARS[b]

    def person_name(self, rng: random.Random) -> str:
        return rng.choice(self._pools["names"])

    def _address(self, rng: random.Random, district: str) -> str:
        street = rng.choice(_STREETS)
        unit = f"{rng.randint(1, 30)}栋{rng.randint(1, 28)}{rng.randint(1, 12):02d}室" if rng.random() < 0.4 else ""
        return f"广东省{CITY[1]}{district}{street}{rng.randint(1, 399)}号{unit}"

    def citizen_id(self, j: int, *, region: str | None = None) -> str:
        """A valid, unique GB 11643 number for person j (unique for j < 20,000,000)."""
        k = self._id_perm(j)
        days, seq = divmod(k, 1000)
        birth = date(1950, 1, 1) + timedelta(days=days % 20_000)
        region = region or DISTRICTS[j % len(DISTRICTS)][0]
        body = f"{region}{birth:%Y%m%d}{seq:03d}"
        return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check digit

    def subject(self, i: int) -> SyntheticSubject:
        if not 0 <= i < self.n_subjects:
            raise IndexError(i)
        rng = random.Random((self.seed << 32) ^ (i * 2654435761))
        kind, org_type = _pick(rng, KIND_MIX)
        region, district, _ = _pick(rng, [((c, n, w), w) for c, n, w in DISTRICTS])
        brand_i, industry_i, form_i, style = _digits(self._name_perm(i), self._name_radix)
        brand = self._brand(brand_i)
        industry, _sector = _INDUSTRIES[industry_i]
        n = i + 1
        if kind == "individual_business":
            # Injective in (brand, industry, form, style): each part sits at a fixed position.
            place = f"{CITY[1]}{district}" if style else district
            name = f"{place}{brand}{_SHOPS[industry_i]}{_SHOP_VARIANTS[form_i]}"
        elif org_type == "enterprise":
            place = f"{CITY[1]}{district}" if style else CITY[1]
            name = f"{place}{brand}{industry}{_FORMS[form_i]}"
        elif org_type == "public_institution":
            name = f"{CITY[1]}{district}{_TOWNS[industry_i]}{brand}{_INSTITUTIONS[form_i + 4 * style]}"
        elif org_type == "social_org":
            name = f"{CITY[1]}{district}{brand}{industry}{_SOCIAL[form_i + 4 * style]}"
        else:
            tpl = _GOV[i % len(_GOV)]
            name = f"{CITY[1]}{district}" + tpl.format(b=brand + str(n), n=n)
        body = f"{self._org_perm(i) + 10_000_000:08d}"
        org_code = body + org_code_check_char(body)
        authority, type_code = _ORG_TYPE_CODES[org_type if kind == "legal_entity" else None]
        partial = f"{authority}{type_code}{region}{org_code}"
        code = partial + uscc.calc_check_digit(partial)
        established = date(1995, 1, 1) + timedelta(days=rng.randrange(11_250))
        reg_no = None
        if kind != "legal_entity" or org_type == "enterprise":
            # Registered before 三证合一 (Oct 2015): the legacy registration number still circulates.
            if established < date(2015, 10, 1):
                reg_body = f"{region}{(i * 7919 + self.seed) % 100_000_000:08d}"
                reg_no = reg_body + mod_11_10.calc_check_digit(reg_body)
        legal_rep = self.person_name(rng)
        capital = None
        if org_type == "enterprise":
            capital = round(min(rng.lognormvariate(4.5, 1.4), 500_000), 2)
        elif kind == "individual_business":
            capital = round(rng.choice([1, 2, 3, 5, 10, 20, 30, 50]), 2)
        status = _pick(rng, _STATUS) if org_type in ("enterprise", None) else "存续"
        return SyntheticSubject(
            index=i, kind=kind, org_type=org_type, name=name, uscc=code,
            org_code=org_code if (kind == "legal_entity" or established < date(2015, 10, 1)) else None,
            reg_no=reg_no, region=region, district=district, legal_rep=legal_rep,
            legal_rep_id=self.citizen_id(self.n_persons + i, region=region),
            address=self._address(rng, district), established=established, capital=capital,
            status=status, industry=industry, phone=f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
        )

    def person(self, j: int) -> SyntheticSubject:
        """Natural person j (appears in person resources such as dishonest judgment debtors)."""
        if not 0 <= j < self.n_persons:
            raise IndexError(j)
        rng = random.Random((self.seed << 33) ^ (j * 40503))
        region, district, _ = _pick(rng, [((c, n, w), w) for c, n, w in DISTRICTS])
        cid = self.citizen_id(j, region=region)
        name = self.person_name(rng)
        return SyntheticSubject(
            index=j, kind="natural_person", org_type=None, name=name, uscc=None, org_code=None,
            reg_no=None, region=region, district=district, legal_rep=name, legal_rep_id=cid,
            address=self._address(rng, district), established=date.fromisoformat(
                f"{cid[6:10]}-{cid[10:12]}-{cid[12:14]}"), capital=None, status="正常",
            industry="", phone=f"1{rng.choice('3578')}{rng.randrange(10**9):09d}", citizen_id=cid,
        )
