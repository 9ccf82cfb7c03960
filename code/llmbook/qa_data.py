"""Generated Chinese reading-comprehension data for section 6.3 (re-exported by ``llmbook.qa``).

Short biographies built from templates (birth year, birth city, home city, job, employer) with
varied wording, and questions about them. Training questions are composed from many
interchangeable parts (relation words, shared question words, prefixes, suffixes), so that a
reader must key on the words naming the relation; the test questions use held-out templates
(``QUESTION_TEMPLATES[rel]["test"]``) that no training question equals.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from llmbook.tokenizers import CharTokenizer

__all__ = ["SURNAMES", "GIVEN_NAMES", "CITIES", "JOBS", "ORGS", "RELATIONS", "FACT_TEMPLATES",
           "QUESTION_TEMPLATES", "MAX_ANSWER_LEN", "Person", "QAExample", "make_people", "biography",
           "generate_examples", "make_collection", "build_tokenizer"]

SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN_NAMES = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
               "涛", "明", "超", "霞", "平", "刚", "建国", "晓东", "志强", "秀英", "桂兰", "海燕",
               "文博", "子涵", "雨轩", "浩然", "思远", "佳怡", "俊杰", "欣怡", "宇航", "梓萱",
               "国栋", "丽华", "春梅", "玉珍", "振华", "晓明", "雪梅", "红霞", "家豪", "一鸣")
CITIES = ("北京", "上海", "广州", "深圳", "成都", "杭州", "武汉", "西安", "南京", "重庆", "天津",
          "苏州", "长沙", "郑州", "青岛", "沈阳", "大连", "厦门", "昆明", "哈尔滨", "济南", "福州",
          "合肥", "南昌", "贵阳", "兰州", "太原", "石家庄", "乌鲁木齐", "呼和浩特")
JOBS = ("医生", "教师", "工程师", "律师", "记者", "会计", "厨师", "护士", "作家", "警察", "程序员",
        "建筑师", "飞行员", "翻译", "摄影师", "画家", "药剂师", "消防员", "设计师", "导游",
        "农艺师", "编辑", "演员", "司机", "兽医")
ORGS = ("人民医院", "第一中学", "长江银行", "东方出版社", "新华书店", "市图书馆", "蓝天航空公司",
        "宏达建筑公司", "青山律师事务所", "阳光幼儿园", "市公安局", "科技大学", "红星机械厂",
        "海洋研究所", "天成软件公司", "市博物馆", "明德小学", "晨报社", "绿源农场", "市电视台",
        "中心药房", "华星电子厂", "市消防队", "和平饭店", "远航旅行社")
RELATIONS = ("birth_year", "birth_city", "home_city", "job", "org")
_VALUES = {"birth_city": CITIES, "home_city": CITIES, "job": JOBS, "org": ORGS}
FACT_TEMPLATES = {  # {n}: the person's name, {a}: the answer
    "birth_year": ("{n}出生于{a}年。", "{n}生于{a}年。", "{a}年，{n}出生了。", "{n}是{a}年出生的。",
                   "{n}生在{a}年。", "{n}在{a}年来到人世。"),
    "birth_city": ("{n}出生在{a}。", "{n}的老家在{a}。", "{n}的家乡是{a}。", "{n}在{a}出生。",
                   "{n}是土生土长的{a}人。", "{n}的童年是在故乡{a}度过的。"),
    "home_city": ("{n}现在住在{a}。", "{n}目前定居{a}。", "{n}如今生活在{a}。", "{n}这些年一直住在{a}。",
                  "{n}几年前搬到了{a}。", "{n}眼下在{a}安家。"),
    "job": ("{n}是一名{a}。", "{n}的职业是{a}。", "{n}毕业后当了{a}。", "{n}做{a}已经很多年了。",
            "{n}从事{a}工作。", "{n}的本职工作是{a}。"),
    "org": ("{n}在{a}工作。", "{n}就职于{a}。", "{n}供职于{a}。", "{n}每天去{a}上班。",
            "{n}是{a}的员工。", "{n}在{a}任职。"),
}


def _compose(cores, prefixes=("", "请问", "请问，", "我想知道", "你知道"),
             suffixes=("？", "呢？")) -> tuple[str, ...]:
    """Every core question with every prefix and suffix ("你知道 ... 吗？" for that prefix)."""
    out = []
    for core in cores:
        for p in prefixes:
            for s in suffixes:
                out.append(p + core + ("吗？" if p == "你知道" else s))
    return tuple(sorted(set(out)))


def _fill(patterns, **slots) -> list[str]:
    """Expand patterns like "{n}生在{W}" with every value of each named slot."""
    out = []
    for pattern in patterns:
        filled = [pattern]
        for key, values in slots.items():
            mark = "{" + key + "}"
            filled = [f.replace(mark, v) for f in filled for v in values] if mark in pattern else filled
        out += filled
    return out


_WHERE = ("哪里", "哪儿")  # shared by both city relations (each also has its own city word)
_WHEN = ("哪一年", "哪年")
_TRAIN_CORES = {  # relation words vary; question words are shared between relations
    "birth_year": _fill(("{n}出生于{Y}", "{n}生于{Y}", "{n}生在{Y}", "{n}是{Y}出生的", "{n}是{Y}生的",
                         "{n}在{Y}来到人世", "{n}出生在{Y}"), Y=_WHEN),
    "birth_city": _fill(("{n}出生在{W}", "{n}生在{W}", "{n}在{W}出生", "{n}的老家在{W}", "{n}的家乡是{W}",
                         "{n}的老家是{W}", "{n}的故乡在{W}", "{W}是{n}的家乡", "{n}是{W}人"),
                        W=_WHERE + ("哪个城市",)),
    "home_city": _fill(("{n}{T}住在{W}", "{n}{T}生活在{W}", "{n}{T}定居在{W}", "{n}定居于{W}",
                        "{n}搬到了{W}", "{n}在{W}安家", "{W}是{n}{T}生活的地方"),
                       T=("现在", "如今", "眼下", "这些年"), W=_WHERE + ("哪座城市",)),
    "job": _fill(("{n}的职业是{Q}", "{n}从事{K}", "{n}做{K}", "{n}是做{K}的", "{n}的本职工作是{Q}",
                  "{n}毕业后当了{Q}"), Q=("什么", "哪种职业"),
                 K=("什么职业", "什么工作", "哪种职业", "哪种工作")),
    "org": _fill(("{n}在{U}工作", "{n}在{U}上班", "{n}就职于{U}", "{n}供职于{U}", "{n}在{U}任职",
                  "{n}每天去{U}上班", "{n}是{U}的员工"),
                 U=("哪里", "哪儿", "哪个单位", "哪家单位", "哪家机构")),
}
_TEST_TEMPLATES = {  # held out: never used for training, and worded differently from every core
    "birth_year": ("{n}的出生年份是多少？", "哪一年{n}出生？"),
    "birth_city": ("{n}是在哪座城市出生的？", "{n}的出生地是哪里？"),
    "home_city": ("{n}现居何处？", "{n}目前住在哪个城市？"),
    "job": ("{n}是干什么的？", "{n}做的是哪一行？"),
    "org": ("{n}的工作单位是哪里？", "{n}在什么地方上班？"),
}
QUESTION_TEMPLATES = {  # "train" templates are used for training, "test" ones only for testing
    rel: {"train": _compose(sorted(set(cores))), "test": _TEST_TEMPLATES[rel]}
    for rel, cores in _TRAIN_CORES.items()
}
_NAMES = tuple(sorted({s + g for s in SURNAMES for g in GIVEN_NAMES}))
MAX_ANSWER_LEN = max(len(v) for v in CITIES + JOBS + ORGS)  # 7 characters; years have 4


@dataclass(frozen=True)
class Person:
    """One generated person: a name and a value for every relation."""

    name: str
    birth_year: str
    birth_city: str
    home_city: str
    job: str
    org: str


@dataclass(frozen=True)
class QAExample:
    """A question about ``context``; the answer is ``context[start:start + len(answer)]``."""

    question: str
    context: str
    answer: str
    start: int
    relation: str = ""


def _rng(seed: int | random.Random) -> random.Random:
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def make_people(n: int, seed: int | random.Random = 0) -> list[Person]:
    """``n`` people with distinct names and random facts."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(_NAMES):
        raise ValueError(f"n must be an int in [1, {len(_NAMES)}] (the number of distinct names), "
                         f"got {n!r}")
    rng = _rng(seed)
    people = []
    for name in rng.sample(_NAMES, n):
        people.append(Person(name, str(rng.randint(1950, 2005)),
                             *(rng.choice(_VALUES[r]) for r in RELATIONS[1:])))
    return people


def biography(person: Person, relations, rng: random.Random) -> tuple[str, dict[str, int]]:
    """Sentences stating ``relations`` of ``person`` (random wording); text and answer offsets."""
    text, starts = "", {}
    for rel in relations:
        if rel not in FACT_TEMPLATES:
            raise ValueError(f"unknown relation {rel!r}; use one of {RELATIONS}")
        template = rng.choice(FACT_TEMPLATES[rel])
        answer = getattr(person, rel)
        before = template.split("{a}")[0].format(n=person.name)
        starts[rel] = len(text) + len(before)
        text += template.format(n=person.name, a=answer)
    return text, starts


def generate_examples(n: int, split: str = "train", seed: int | random.Random = 0,
                      n_people: int = 2, answerable: bool = True) -> list[QAExample]:
    """``n`` questions, each on a passage about ``n_people`` people (the first is asked about).

    ``split`` picks the question templates ("train" or "test"). With ``answerable=False`` the
    asked relation of the asked person is left out of the passage (the answer field is then "",
    start -1), while the other people may still state that relation.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not isinstance(n_people, int) or not 1 <= n_people <= 4:
        raise ValueError(f"n_people must be an int in [1, 4], got {n_people!r}")
    rng = _rng(seed)
    out = []
    for _ in range(n):
        people = make_people(n_people, rng)
        rel = rng.choice(RELATIONS)
        order = list(range(n_people))
        rng.shuffle(order)
        context, start = "", -1
        for i in order:
            k = rng.randint(2, 3)
            rels = rng.sample(RELATIONS, k)
            if i == 0:  # the asked person: the asked relation is stated iff answerable
                rels = [r for r in rels if r != rel]
                if answerable:
                    rels.insert(rng.randrange(len(rels) + 1), rel)
            text, starts = biography(people[i], rels, rng)
            if i == 0 and answerable:
                start = len(context) + starts[rel]
            context += text
        question = rng.choice(QUESTION_TEMPLATES[rel][split]).format(n=people[0].name)
        answer = getattr(people[0], rel) if answerable else ""
        out.append(QAExample(question, context, answer, start, rel))
    return out


def make_collection(n_people: int, n_questions: int, seed: int | random.Random = 0
                    ) -> tuple[list[str], list[tuple[str, int, str]]]:
    """Documents about two people each, and (question, gold document, answer) triples.

    Every person's five facts are split into two groups (2 and 3 facts) that go to two
    different documents, so a name alone does not identify the right document. Questions use
    the held-out ("test") templates.
    """
    if not isinstance(n_people, int) or isinstance(n_people, bool) or n_people < 2:
        raise ValueError(f"n_people must be an int >= 2, got {n_people!r}")
    rng = _rng(seed)
    people = make_people(n_people, rng)
    groups = []  # (person index, relations stated together)
    for i in range(n_people):
        rels = list(RELATIONS)
        rng.shuffle(rels)
        groups += [(i, rels[:2]), (i, rels[2:])]
    while True:  # pair the groups so that no document holds two groups of the same person
        rng.shuffle(groups)
        if all(groups[k][0] != groups[k + 1][0] for k in range(0, len(groups), 2)):
            break
    documents, where = [], {}
    for k in range(0, len(groups), 2):
        text = ""
        for i, rels in groups[k: k + 2]:
            text += biography(people[i], rels, rng)[0]
            where.update({(i, r): k // 2 for r in rels})
        documents.append(text)
    questions = []
    for _ in range(n_questions):
        i, rel = rng.randrange(n_people), rng.choice(RELATIONS)
        q = rng.choice(QUESTION_TEMPLATES[rel]["test"]).format(n=people[i].name)
        questions.append((q, where[(i, rel)], getattr(people[i], rel)))
    return documents, questions


def build_tokenizer() -> CharTokenizer:
    """The character vocabulary of every template, name and value (independent of any sample)."""
    parts = list(SURNAMES) + list(GIVEN_NAMES) + list(CITIES) + list(JOBS) + list(ORGS) + \
        [t for ts in FACT_TEMPLATES.values() for t in ts] + \
        [t for q in QUESTION_TEMPLATES.values() for ts in q.values() for t in ts] + ["0123456789"]
    text = "".join(parts).replace("{n}", "").replace("{a}", "")
    return CharTokenizer(sorted(set(text)))
