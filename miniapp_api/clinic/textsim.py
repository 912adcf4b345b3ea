"""Say the same thing: how surely two short Chinese complaint texts describe the same problem.

A text (its first 300 characters) becomes a bag of character bigrams and of Latin/number words such as
``110kv``, weighted by sublinear term frequency times an inverse document frequency frozen from 2,976
public citizen messages (the 2020 Teddy Cup board data, messages.csv), and L2-normalised; the score is
the cosine. Bigrams in more than about 8% of complaints (问题, 小区, 反映, 希望, 领导, 投诉 ...) are
dropped, rare ones weigh most. Anonymised place codes (A市, A3区) are removed and a place name (the rare
bigrams just before 路, 社区, 小区, 新城 ...) counts half: two reports from the same address about
different problems should not look alike. The weighting never depends on the texts at hand, so
``similarity(a, b)`` is the same number whatever else is being grouped and a threshold keeps its meaning.

``group`` vectorises all texts once and finds the pairs above the threshold with numpy only (postings
sorted by term; every pair of texts sharing a term expanded in blocks and summed with ``bincount``), takes
the connected components, and splits them by average link so that chains do not glue topics together.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["SAME_THING", "centrality", "group", "idf", "similarities", "similarity"]

K = TypeVar("K", bound=Hashable)

SAME_THING: Final = 0.18
"""Score from which two texts (of the same place and week) say the same thing. Chosen on hot-messages.csv:
about 80% of the pairs above it are duplicates (65% counting one author's 92 look-alike posts)."""

# The subject and the first lines carry the problem; long bodies add noise and cost.
_MAX_CHARS: Final = 300
# Anonymised place codes of the public data (A市, A3区, K9县): every text has them.
_PLACE_CODE = re.compile(r"(?<![A-Za-zＡ-Ｚａ-ｚ])[A-ZＡ-Ｚ][0-9０-９]{0,2}[市区县]")
_LATIN_WORD = re.compile(r"[a-z0-9]{2,}")
# A place name is the run of unknown (rare) bigrams just before one of these: 东坑|路, 丽发|新城, 塘家|社区.
_PLACE_SUFFIX = re.compile(r"街道|社区|小区|花园|家园|新城|新村|公寓|大厦|广场|大道|路|街|巷|村|镇|苑|园|城|湾|府")
_PLACE_WEIGHT: Final = 0.5
_SEP: Final = "\x00"
# Bigrams missing from the frozen table are in fewer than 0.5% of the messages.
_UNKNOWN_IDF: Final = 5.5
# Bigrams in more than about 8% of the messages say nothing about the problem and cost most pairs: dropped.
_STOP_IDF: Final = 2.5
# Average link merges two parts of a connected group while their mean score reaches this share of the threshold.
_AVERAGE_SHARE: Final = 0.6
# A component larger than this (m x m floats twice) stays as single link found it.
_AVERAGE_MAX: Final = 3000
# Latin words are hashed above the bigram codes (two BMP code points need 32 bits).
_LATIN_BASE: Final = 1 << 32
_KEY_BITS: Final = 34
# Pair scores are summed into (rows x n) float64 blocks of about this many cells (32 MB).
_BLOCK_CELLS: Final = 4_000_000
_CHUNK_PAIRS: Final = 2_000_000


@dataclass(frozen=True, slots=True)
class _Vectors:
    """L2-normalised rows, CSR-like: row r has ``terms[indptr[r]:indptr[r + 1]]`` (ascending) and their weights."""

    indptr: npt.NDArray[np.int64]
    terms: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]

    @property
    def sizes(self) -> npt.NDArray[np.int64]:
        return np.diff(self.indptr)

    def row(self, r: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        lo, hi = self.indptr[r], self.indptr[r + 1]
        return self.terms[lo:hi], self.weights[lo:hi]

    def subset(self, rows: npt.NDArray[np.int64]) -> _Vectors:
        parts = [np.arange(self.indptr[r], self.indptr[r + 1]) for r in rows.tolist()]
        take = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(self.sizes[rows])]).astype(np.int64)
        return _Vectors(indptr=indptr, terms=self.terms[take], weights=self.weights[take])


def similarity(a: str, b: str) -> float:
    """How surely ``a`` and ``b`` describe the same problem, in [0, 1]: 1.0 for the same text, 0.0 if one is empty."""
    return similarities(a, [b])[0]


def similarities(text: str, others: Sequence[str]) -> list[float]:
    """``similarity(text, other)`` for each of ``others``, vectorised together (one new text against many)."""
    v = _vectorise([text, *others])
    t0, w0 = v.row(0)
    out: list[float] = []
    for r, other in enumerate(others, start=1):
        t, w = v.row(r)
        if not len(t0) or not len(t):
            out.append(0.0)
        elif other == text:
            out.append(1.0)
        else:
            _, i0, i1 = np.intersect1d(t0, t, assume_unique=True, return_indices=True)
            out.append(min(1.0, max(0.0, float(w0[i0] @ w[i1]))))
    return out


def group(
    items: Sequence[tuple[K, str]],
    threshold: float = SAME_THING,
    *,
    linkage: Literal["average", "single"] = "average",
) -> list[list[K]]:
    """Partition ``items`` (key, text) into groups of texts that say the same thing.

    Single link: the connected components of the pairs scoring >= ``threshold``. Average link (the default)
    then splits each component (up to 3,000 texts), merging its parts bottom-up while their mean pairwise
    score stays >= 0.6 x ``threshold``. Every key is in exactly one group (a text like no other is a group
    of one); groups come largest first, then by their first item; keys keep the input order in a group.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    n = len(items)
    if n == 0:
        return []
    v = _vectorise([text for _, text in items])
    i, j, _ = _pairs(v, threshold)
    roots = _components(n, i, j)
    components: dict[int, list[int]] = {}
    for index, root in enumerate(roots.tolist()):
        components.setdefault(root, []).append(index)
    groups: list[list[int]] = []
    for members in components.values():
        if linkage == "single" or len(members) <= 2 or len(members) > _AVERAGE_MAX:
            groups.append(members)
        else:
            groups.extend(_average_link(v, np.asarray(members, dtype=np.int64), threshold * _AVERAGE_SHARE))
    groups.sort(key=lambda m: (-len(m), m[0]))
    return [[items[k][0] for k in m] for m in groups]


def centrality(texts: Sequence[str]) -> list[float]:
    """Mean score of each text against the others (0.0 for a single text): the highest is the group's most typical."""
    n = len(texts)
    if n < 2:
        return [0.0] * n
    i, j, s = _pairs(_vectorise(texts), 1e-9)
    sums = np.bincount(i, weights=s, minlength=n) + np.bincount(j, weights=s, minlength=n)
    return [float(x) for x in sums / (n - 1)]


def idf(bigram: str) -> float:
    """The frozen inverse document frequency of a two-character term (low: every complaint says it)."""
    if len(bigram) != 2:
        raise ValueError("a bigram has two characters")
    return _idf_dict().get(bigram, _UNKNOWN_IDF)


@cache
def _idf_dict() -> dict[str, float]:
    table: dict[str, float] = {}
    for value, *chunks in _IDF_TIERS:
        joined = "".join(chunks)
        table.update((joined[k : k + 2], value) for k in range(0, len(joined), 2))
    return table


@cache
def _idf_table() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The frozen IDF as sorted bigram codes (two code points in 32 bits) and their values."""
    table = _idf_dict()
    keys = np.asarray([ord(b[0]) << 16 | ord(b[1]) for b in table], dtype=np.int64)
    values = np.asarray(list(table.values()), dtype=np.float64)
    order = np.argsort(keys)
    return keys[order], values[order]


def _vectorise(texts: Sequence[str]) -> _Vectors:
    n = len(texts)
    joined = _PLACE_CODE.sub(" ", _SEP.join(t[:_MAX_CHARS].replace(_SEP, " ") for t in texts))
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    # Full-width Latin letters and digits to ASCII (as NFKC would), then lower case: in numpy, not per character.
    codes[(codes >= 0xFF01) & (codes <= 0xFF5E)] -= 0xFEE0
    codes[(codes >= 0x41) & (codes <= 0x5A)] += 0x20
    position_row = np.cumsum(codes == 0)
    cjk = ((codes >= 0x3400) & (codes <= 0x9FFF)) | ((codes >= 0xF900) & (codes <= 0xFAFF))
    bigram = cjk[:-1] & cjk[1:]
    all_keys = (codes[:-1] << 16) | codes[1:]
    place = _place_names(joined, all_keys, bigram)[bigram]
    keys = all_keys[bigram]
    rows = position_row[:-1][bigram]
    ascii_text = codes.astype(np.uint32).tobytes().decode("utf-32-le")
    latin = [
        (m.start(), _LATIN_BASE + zlib.crc32(m.group().encode()))
        for m in _LATIN_WORD.finditer(ascii_text)
        if not m.group().isdigit()
    ]
    if latin:
        at, latin_keys = np.asarray(latin, dtype=np.int64).T
        rows, keys = np.concatenate([rows, position_row[at]]), np.concatenate([keys, latin_keys])
        place = np.concatenate([place, np.zeros(len(at), dtype=bool)])
    combined, inverse, tf = np.unique((rows << _KEY_BITS) | keys, return_inverse=True, return_counts=True)
    in_name = np.bincount(inverse, weights=place, minlength=len(combined)) > 0
    rows, terms = combined >> _KEY_BITS, combined & ((1 << _KEY_BITS) - 1)
    table_keys, table_idf = _idf_table()
    at = np.minimum(np.searchsorted(table_keys, terms), len(table_keys) - 1)
    idf = np.where(table_keys[at] == terms, table_idf[at], _UNKNOWN_IDF)
    keep = idf >= _STOP_IDF
    rows, terms = rows[keep], terms[keep]
    weights = (1.0 + np.log(tf[keep])) * idf[keep] * np.where(in_name[keep], _PLACE_WEIGHT, 1.0)
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=n))
    weights /= norms[rows]
    indptr = np.searchsorted(rows, np.arange(n + 1)).astype(np.int64)
    return _Vectors(indptr=indptr, terms=terms, weights=weights)


def _place_names(joined: str, keys: npt.NDArray[np.int64], bigram: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Bigram positions inside a place name: the run of unknown bigrams that ends in a place suffix (东坑|路)."""
    table_keys, _ = _idf_table()
    where = np.flatnonzero(bigram)
    at = np.minimum(np.searchsorted(table_keys, keys[where]), len(table_keys) - 1)
    unknown = np.zeros(len(keys), dtype=bool)
    unknown[where] = table_keys[at] != keys[where]
    starts = unknown & ~np.r_[False, unknown[:-1]]
    run = np.cumsum(starts) * unknown  # 0 outside runs
    reach = np.full(int(run.max()) + 1 if len(run) else 1, -1, dtype=np.int64)
    ends = np.asarray([m.start() - 1 for m in _PLACE_SUFFIX.finditer(joined) if m.start() > 0], dtype=np.int64)
    ends = ends[ends < len(run)]
    ends = ends[run[ends] > 0]
    np.maximum.at(reach, run[ends], ends)
    position = np.arange(len(run))
    result: npt.NDArray[np.bool_] = (run > 0) & (position <= reach[run])
    return result


def _pairs(
    v: _Vectors, threshold: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """All (i, j, score) with i < j and score >= threshold, summing (rows x n) blocks of cosines at a time."""
    n = len(v.indptr) - 1
    sizes = v.sizes
    rows = np.repeat(np.arange(n, dtype=np.int64), sizes)
    order = np.argsort(v.terms, kind="stable")  # rows stay ascending within a term
    terms, rows, weights = v.terms[order], rows[order], v.weights[order]
    rows32 = rows.astype(np.int32)
    m = len(terms)
    starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]]) if m else np.zeros(0, dtype=np.int64)
    run_end = np.repeat(np.r_[starts[1:], m], np.diff(np.r_[starts, m]))
    later = run_end - np.arange(m) - 1  # postings of the same term in later rows
    pos = np.flatnonzero(later > 0)
    count = later[pos]
    block = max(1, _BLOCK_CELLS // max(n, 1))
    found: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        in_block = (rows[pos] >= b0) & (rows[pos] < b1)
        p, c = pos[in_block], count[in_block]
        if not len(p):
            continue
        cells = (b1 - b0) * n
        acc = np.zeros(cells)
        ends = np.cumsum(c)
        lo = 0
        while lo < len(p):
            base = ends[lo - 1] if lo else 0
            hi = max(lo + 1, int(np.searchsorted(ends, base + _CHUNK_PAIRS, side="right")))
            pc, cc = p[lo:hi], c[lo:hi]
            # Posting pc pairs with the cc postings after it: pc + 1 ... pc + cc.
            first = np.cumsum(cc) - cc
            right = np.repeat((pc + 1 - first).astype(np.int32), cc) + np.arange(int(cc.sum()), dtype=np.int32)
            cell = np.repeat((rows32[pc] - b0) * n, cc) + rows32[right]
            acc += np.bincount(cell, weights=np.repeat(weights[pc], cc) * weights[right], minlength=cells)
            lo = hi
        hit = np.flatnonzero(acc >= threshold * (1 - 1e-9))  # rounding; never 0, which would take empty cells
        found.append((b0 + hit // n, hit % n, np.minimum(acc[hit], 1.0)))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return (
        np.concatenate([f[0] for f in found]),
        np.concatenate([f[1] for f in found]),
        np.concatenate([f[2] for f in found]),
    )


def _components(n: int, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Root (smallest index) of each item's connected component."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.asarray([find(x) for x in range(n)], dtype=np.int64)


def _average_link(v: _Vectors, members: npt.NDArray[np.int64], cutoff: float) -> list[list[int]]:
    """UPGMA inside one component on exact pairwise scores; parts merge while their mean score >= cutoff.

    Each row keeps its best partner, so a merge costs O(m) numpy work instead of a scan of the m x m matrix.
    """
    m = len(members)
    i, j, s = _pairs(v.subset(members), 1e-9)
    total = np.zeros((m, m))
    total[i, j] = s
    total[j, i] = s
    mean = total.copy()
    np.fill_diagonal(mean, -np.inf)
    size = np.ones(m)
    alive = np.ones(m, dtype=bool)
    label = np.arange(m)
    best = mean.argmax(axis=1)
    best_value = mean[np.arange(m), best]
    while True:
        a = int(np.argmax(best_value))
        if best_value[a] < cutoff:
            break
        a, b = sorted((a, int(best[a])))
        total[a, :] += total[b, :]
        total[:, a] = total[a, :]
        size[a] += size[b]
        alive[b] = False
        label[label == b] = a
        row = np.where(alive, total[a, :] / (size[a] * size), -np.inf)
        row[a] = -np.inf
        mean[a, :] = row
        mean[:, a] = row
        mean[b, :] = -np.inf
        mean[:, b] = -np.inf
        best_value[b] = -np.inf
        best[a] = int(np.argmax(row))
        best_value[a] = row[best[a]]
        # Rows that pointed at a or b may have lost their best; the others can only gain a.
        for r in np.flatnonzero(alive & ((best == a) | (best == b))).tolist():
            if r != a:
                best[r] = int(np.argmax(mean[r, :]))
                best_value[r] = mean[r, best[r]]
        gain = alive & (row > best_value)
        gain[a] = False
        best[gain] = a
        best_value[gain] = row[gain]
    parts: dict[int, list[int]] = {}
    for k, lab in enumerate(label.tolist()):
        parts.setdefault(lab, []).append(int(members[k]))
    return list(parts.values())


# Frozen IDF, generated once from messages.csv (2,976 messages, anonymised place codes removed): every bigram
# in at least 0.5% of them, as (ln(N / df) rounded to a quarter, the bigrams of that value concatenated).
_IDF_TIERS: Final = (
    (0.75, "没有"),
    (1.0, "一个我们部门领导"),
    (1.25, "什么工作政府现在问题"),
    (1.5, "不能严重人员可以地省希望西地"),
    (1.75, "不是人民他们们的作为公司关部国家尊敬就是已经您好情况我是教育敬的时间是一有关生活百姓相关要求规定解决这样"),
    (
        2.0,
        "一直不知为什但是关于单位反映因为处理多次如果学校影响怎么政策有一的一的人社会管理老百自己请问还是这个"
        "这些进行都是",
    ),
    (
        2.25,
        "一下不到个月为了也不书记了一人的今年以上任何到了只有大的存在学生安全居民工资应该建设开始得到我的投诉"
        "无法时候是不是否本人样的环境电话的工的是的生的问知道给我而且至今行为请求谢谢还有这种通过造成部分需要",
    ),
    (
        2.5,
        "一年上级不要个人中心也是也没们是企业你们保障关系其他利益办理劳动发展只能合同合法合理回复地方基本如此"
        "孩子导致小区小学小孩年的建议开发当时很多所以所有按照收费文件是我有的服务条件标准根据正常民的法律生的"
        "由于的事的情的时的老的领目前第二答复经济结果群众职工育局调查负责责任费用这么这是退休通知都不都没重视"
        "难道",
    ),
    (
        2.75,
        "一些一名一样一次不得业主为何为我了我了解事情享受以及们这作人你好使用依法保护保险健康全部公平农村况下"
        "几个几年出现办法区的医疗医院卫生厅长原因参加发现发生只是可是可能同时咨询在我在这城市多年好的如何完全"
        "定的实施实际家长就不局长属于工程左右市场并且必须恳请成了我想或者才能报告提供提出教师明确是在有人有限"
        "村民来的根本此事每天污染环保甚至生产申请的不的公的学的小的政直接看到社保符合第一组织经营经过给予老师"
        "能够行政规划让我质量资源还要这一违法那么非常项目",
    ),
    (
        3.0,
        "一点万元上班上的不了不会不可业的两个中的主任主管主要举报之前予以事业事实交通人在今天代表以后以来们一"
        "们不何时保局全国关注其中具体养老农民出了出来到底到现办公去了去年发商受到只要各种告知员工员的因此在此"
        "在的多少大家如下姓的学习安排家庭家的对于对我尽快局的居住己的年了年来广大建筑强烈当地待遇得不意见感谢"
        "我在房屋手续执行提高方式方面是有是这普通最后月份期间机构权利权益来了检查每个每年民政民生法规特别现象"
        "理由理的生命的合的地的大的教的权的行的规监督真的精神级领继续维护考虑考试范围认为说是购买身体还没这里"
        "违反违规都有里的重影重的长期门的限公非法面的",
    ),
    (
        3.25,
        "一定一家一条下来不作不合不好不敢不管不给个公个小中国中央中学为一么不么多么时义务之中之后乡镇事件二十"
        "交了人社以下以前们也们在价格会保住房作的依据信息做主元的全体公共公布公开公正公道再次决定几十出台出的"
        "利用别是到位到的制度前的办事包括十年半年及时反应发放另外司的合格同意同样周边和国哪里困难在一在外增加"
        "多人多的子女学的实在实行家里小时就没工人工的市政市长带来帮助干部平台府的引起很大心的态度成为我不房产"
        "房子执法承担接受措施操作支持收入收取改革文化方便方案施工无人明显是为是什晚上最近有些有任有这望有本来"
        "条例查处校的毕业法权活动物业生育百忙的原的发的安的家的建的房的电的社的答的职的话的通的高监管目的相信"
        "省人真正社区积极第三签订管部系统经常缴纳网上老人而不联系能力落实行了补偿要我计划让人设施证明请领费的"
        "资料资格资金超过身份达到过去过程进入都在采取里面重要附近隐患题的",
    ),
    (
        3.5,
        "一位一天一步一种一起三个三年上面下午下的不予不仅不公不同不堪不符不足不顾专业业单两年个问中华为民为由"
        "么办之间也就也有买了乱收了这事故产生人不人事人口人管人都仍然从事们都休息会的但我位于位的住在住户住院"
        "保证允许全隐公务公示公路共和关心其它其实几天出生到一到我加强务员动合医保医生十几十分十多华人协商协调"
        "原来发的号文各级后来后的听说告诉员会回家土地地区培训基础大学大部大量如今委员子的完成审批家人对此就可"
        "就有就要局领岗位市民师的年前年多年级并不应当府部强制形式忙之感觉成绩我一我也我家我就户口所谓打击批准"
        "承诺技术把我拒绝损失损害支付改造教学整个文明旅游无奈既然时的是个是国是没是西是要更是有什有几有很有效"
        "有没望能望领机关来越极大次向正在正式每月每次民共民办民医水平治疗法的法行消费清楚然后然而父母现场理解"
        "生存用的电梯的业的出的利的医的同的回的基的孩的实的居的心的意的文的方的有的正的环的相的经的要的资的身"
        "的重的钱直到直没督促破坏程中程序竟然等等给了统一维权老板职业职能育的能不能在能部虽然行的街道补贴表示"
        "要的规范觉得解释认真许多设备设计诉求说我说明说法调整负担财政责人起来越来车辆过了还不还在还我选择道路"
        "重新长的门能院的面积",
    ),
    (
        3.75,
        "一事一切一套一片一的一般三十上午上学上有上访下发不上不但不出不少不想不断不见不起业公业务严格个学中小"
        "为人为此主的之一也要书面了几了吗了很于是些人产品人为人们人力人是他的令人以为以我们只们好们就们老件的"
        "众的会有会议位领体健何在作出依然做了做出做法儿园免费全面公交公安公室公里关政关规关领具有内容内的准备"
        "出租出行出面别人到处到这制定加了加工务院动法努力区内区域协议危害历史压力原则县城县政参与又不又是发了"
        "发布取得取消变成各位同的向您否有和政和社和谐唯一商业商品噪音回答国务在不在哪在家在没在百在网在职在西"
        "地产地的场的垃圾城区城管基层外地多了多元多数大人大多天天委会威胁媒体安置完善实事实现宣传容易对待导们"
        "导的导能尤其就在就这工业工商巨大市委市的师资帮我年以年底年我年龄并没幼儿应的建成建立开展强行恢复恶劣"
        "想问意的愿意成的成立我叫我这房地房的所在打工打电投入投资报名报销拖欠招生排放提前收到改善整改新建新的"
        "是人是因是对是说是谁更加更多最低月的有不有个有了有公有多有得朋友望政材料村的条规来说果不查询核实格的"
        "正的此致比较民工民群污水没人法院消息满意烈要物价生了生态疗保登记的上的主的交的住的保的关的农的劳的各"
        "的好的就的市的报的新的村的民的水的法的现的解的这的违相应相当省政研究确定确实福利稳定空气立即第四等待"
        "策的签字级的维修综合群体老保者的而我而是联合育部能否能给致使行业行动补助装修要在要是计生计算证据证的"
        "试问询问说不请您请政读书谓的财产费者赔偿距离路上车的辛苦边的过来这就这次进一连续那些都要重大重点重违"
        "量的针对银行销售错误门口问一间的除了随着集团高度",
    ),
    (
        4.0,
        "一中一人一份一分一是一级一线一部一项万分上一上下上了上述下一下了下去下岗不一不便不再不在不多不容不愿"
        "不懂不明不清不满不理不用不让不过专家东西两次严查个多中有中间临时为止为老主持么就也只也可也在也无买的"
        "了不了两了大事的事项二是二次二胎于我交房交的交车产的产证人一人家人才人来人生人身以不们为们多们家们有"
        "们要们说们还件精份证休人优秀会不传销伤害住宅住的体现体的体育作用侵犯促进保部信访修建做的停止停车儿子"
        "儿童元一党和入住入学全县全是公民公积共同关人关的关闭其是决问几乎几百出具分之分别分的分配切实初中别的"
        "到解制止力度力的力资办了办学加上加大务工务教务的动关动者区业区居十一十二占用却不原本县级县长又有及其"
        "双方反而发文受理另一只好召开司在司机各项合作同一同志名义名单后一后我后果后面向上否则周围品房响了哪个"
        "四十围内国的在上在地在大在学在小在是在还地下场所垄断城乡城镇处罚外的大力大型天的天都好了好几好多姓一"
        "学期安装定为定了实地实的家属对这对面将我小的就业就算就读局不展的履行岁的工伤工工已有帮忙常生常的平均"
        "平方平的年一年下年之年人年代年在年年年开年都应有府为府领度的建的开了开放弱势当年当然形象彻底律法必要"
        "怎样性的患者您的想到感激成本我去我希我要户的手术手段找到报道拆除指导改变放在放的政部效果敬礼敬请整治"
        "新闻方的无果无视无论日上日起时也明白是他是以是公是如是怎是按是政是无是最是由显示景区更不最大月了月工"
        "月底有两有办有发有所有时有权有点期的本上本就本没机会权力村村村里果是某些校长格证档案检测正义正当此我"
        "段时比例比如民一水泥求助求政汽车法定派出消防点的然是父亲特殊独生现了现有班的生子生家用人用水电视留下"
        "疾病病人的中的信的养的决的几的前的办的名的吗的开的形的成的所的投的收的机的条的标的理的管的结的补的证"
        "的说的费的路的车的退的都益的直在省的看不真是矛盾知情知我确保社局禁止私人种情科学积金突然第十简单管不"
        "级政级部纳入给他给出编制缴费网络罚款职称胡厅能享能有能解自然至少致敬良好苦不获得营业补课被告要不要交"
        "要收要有解除认定记录许可设的设置证书诉我该怎该是说要说这请上请相谁来责令质疑购房贷款资质路的过一还能"
        "还说这不这两这几违背迟迟通的道是道的道这那个那里部的都会都可都已里有金的鉴定钱的镇的长您问这阶段限制"
        "难以集体面对领取首先马上验收高中高的",
    ),
    (
        4.25,
        "一千一句一台一大一张一所一批一方一段一致七十三条上不上所上课下属下我下有下达下雨下面不允不准不去不够"
        "不如不对不平不应不按不方不算不行不说不通不需与我专门且还世界业人业和业生业管两天严肃个事个别个工个说"
        "中一为不为他为公为国为本为的主动么大么我么样么能么要么还之下之久之日乡村买房了三了个了事了他了多了的"
        "事人二个二天二年二条五十五年交易交给产权人单人去人工人数人有人说仅仅介绍从未从来他人付出们做们去们将"
        "们小们每们没们能们自价值任务任的休工休的众多优惠会上但不但没位和位工位置低于住建何不作业作了作时使我"
        "依照侵害保安保的做到做好充分党的入了全市全的全省八十公告公园关事关法关问内部农合决不决我决策减少几点"
        "出一出所分感分钟分钱划生利的到县前几前我前提前期剥夺力量办好办的加快加班动局动的势群化的北京医药十万"
        "十三十五十八十六千多危房危险却是却没却被厂的去的县委及相反了反对反馈发给取了受害口的叫我可见司法各地"
        "名的后再后又后就否合听到启动员不呼吁呼声命安和人和家和我和生响应哪些四年回应回来园的国土国有国际在严"
        "在中在全在公在医在国在工在已在市在当在政在有在本在电在那地上地政地点地面场地块钱坚决坚持城的基金堪言"
        "处于备案复是外面多万多个多方多月大事大小大道大门大队天上天下太多失业好好委托子们学教学费学院孩的定是"
        "定要审核害了家中家政家有家法家规家都对外导为小小就一就会局和局在层的居然工厂工龄市区布的平等年不年后"
        "年就年度并未幸福广告广场底是府及府发府和府有府相府能建房开学开的强调当初当前录取形成彻查征收很不很好"
        "得了得知心里快递忽悠性质总是恳求您们您反情的想请意思意识感受成功我于我只我和我国我多我小我所我有我现"
        "我说手机打了扰民找不承包担任拆迁招聘拥有拿出拿到持公指出指定指标按规据国据我据说接到控制提交提升擅自"
        "改制放到放心故意效率整体敷衍新农方法旁边无门日下日前日在日期早上早已时代时我时有星期映情春节是从是你"
        "是全是可是多是学是当是想是每是真是老是自是被更好更换曾经最终最高有三有利有好有政有相有给望您望相期待"
        "未来未经未能本不本地本是本的条款来一来到来就来我来是来水来源染环样一楚江楼盘模式次反次性欺骗死亡母亲"
        "每一每人毫无民众民法求我求解汇报汗钱沟通没办治理法人法违注册活环浪费涉及涉嫌渠道游客源和热线然不特向"
        "状况环评现已班主理不理人理吗理好生不生和生在生局生工生证生院用了用地申报疗费百多的下的专的两的严的价"
        "的企的优的作的健的全的单的可的后的商的国的在的城的天的影的待的感的我的打的招的指的损的改的最的污的父"
        "的物的的的目的真的空的第的考的自的诉的责的质的过的还的那直不省级看了看看真实知识确规确认离开私自科技"
        "租房租车秩序程度究竟空间站的米的类似系列素质纠正纠纷约定纪委线的线路终于经理经费维持绿化缺乏网站老金"
        "考生职责肯定能为能得自来自行自身臭气致我花园虚假血汗行人要一要去要让规的认可设立试的说了说没说的请有"
        "谢您贡献质的贫困资的走了起了路线路面身心车站边居过多过的过问运行运输近几近居近年近的还可进去违章追究"
        "通道遇到道我邮政都无都知都能配合配套采用重污量问金额镇政长大长达门不门反门和门面门领问我降低院治除劳"
        "险的随意集中需求面临面有顺利题尊题我马路高级高考高速麻烦",
    ),
    (
        4.5,
        "一万一件一到一块一律一旦一期一栋一楼一百一系万人万多万的三天三次上公上就上是上都下文下降不下不为不动"
        "不及不存不安不属不开不接不正不然不负不适且不业技业有业职严厉个不个合个地个大个安个班个老个部中专中医"
        "中抽为主为家为是为盼为自为证为这主义主们主体么一么原么这么难之不九年也一也会也应也很也能乡的了了了人"
        "了公了十了好了学了房了社了自争取事处二中于不些年交纳交钱产局产开享有亲自人也人于人和人士人多人大人心"
        "人性人每人没人行仅是今已今日介入从而代的代课以办以在以外以此以说们业们全们国们学们对们已们当们想们现"
        "仲裁件不件事件规任人休职休金休闲众路会主会公会和会在传统伤保但在位上低的作者你的供的便利保健修改借口"
        "假日做为元月党委全不公办公厅公然六年六条共有关单关职具备决了决这准生准的减轻几千几次出去出发出售出院"
        "分数列入创建利于到任到学到政到有制造前就前面力和功能劳务区人区别千万千元半个卫计印发即使即将去哪县人"
        "县里参保参照参考又没又要发出发工发票取的取缔变化变更口头句话可我可证号码司不各个各类合规同事同学同法"
        "名普后才向你向市向有向社否可员在员都和公和其和城和学和工品牌响到商局商的四个回事回到回去园小固定在他"
        "在办在县在又在在在建在开在教在未在校在该在进地人地址坏了培养境保境污处的外出外来多处多家多户大会大大"
        "大概天我天气天然失去套房女儿好不好事好处妥善委书子在子都存的孩在官员定不定会定时定期实验害的家一家乡"
        "家公家园对其对象导和导给导重尊严小事少的就只就已就能就被局对属实岗职工地差不差距已成市教市里布了师不"
        "带着常不常年干净平公平米年上年元年初年工年时年没年至年轻年过年限并在广东度重庭的建了开工开通引发强迫"
        "当事当天当我律的律规得的心中心健忙中快速怀疑思想您在您能惠民意义感到成长我县我又我向我已我市我村我没"
        "我父我省我看我老我自我还户籍房公房时所述打扰打着打造扰乱承认把这护伞护我报考担心拒不拿着持续排污接收"
        "推诿推进收了收的放假政局故障效的数据数次整顿新生方向方米施的无任无力日我早在早日时不时发时就时工时期"
        "时能明文明明明的星沙映的是上是中是其是原是合是大是好是小是开是很是本是来是现是经是违是那普遍更改更有"
        "曾多最多月开有业有保有出有可有回有在有大有小有工有我有房有按有收有毒有法有经有老有解有资有钱有问望上"
        "望你期盼期限本应本着本身权威权的村人来不来没来看来自极其构成果有果没染的查看标的校不校园校教校领案件"
        "桥镇检验楼的次到次找次的欺诈正是正确残疾民做民区民服气味气愤气熏水源水的求上求的法制法生法解津贴活在"
        "活的流程深入混乱清理源的满足漏水火车灰尘点多然没照片照顾熏天燃气物质犯罪状态现实理了理办理局理工理条"
        "理费理部生一生办生意生计生都用于用公用工由此申诉电脑留在留言疑问病的白天的三的东的个的为的也的书的二"
        "的传的做的内的分的初的危的县的和的土的处的子的对的差的希的年的广的态的手的执的数的无的服的检的比的消"
        "的监的省的群的胡的血的西的计的道的门的非皮球监察相互相对省内省卫省市省教省里看着着我确的示范社厅祖国"
        "离职种不种种移动突出窗口竞争第五等一等到等的答应简称管吗管局管的管管管道系的经历经多经开结合结构给一"
        "给个给你给的给老续的综上绿水网友美好老婆老年考核育一育事育厅育资能办能是能让腐败自从自由至于良心落后"
        "蓝天行道表现要到要把要提要等规模视频计委订了订劳让他记得记您证件证号评估评审诉无诊断话给该公该项说他"
        "请市请省贴的费不费了费和费是费标资标起重超标越多跟我路口辞退迅速过年过我运动运营近一近日还会这条这笔"
        "这边进了进出进来退还适用途径速度道不道就道德道理避免那就都被都说重不重损销的镇中长们门也门对门要门诊"
        "问了问政问问间为队伍阳光际情随时青山题是食堂高层黑心鼓励齐全",
    ),
    (
        4.75,
        "一一一代一公一半一层一座一生一管一纸一路一辈一金七条三是三级上万上也上交上千上半上去上户上报上查上涨"
        "上看下半下水下游下简下车下这不久不交不住不依不做不停不具不利不发不受不当不成不承不止不相不等不胜不认"
        "不问不闻不高与公与其专项且我且有世纪业不业保业后业园业执业费业资两三两边严惩丧失个体个单个好个孩个平"
        "个村个满个社中不中共中午中级为中为学为有么会么没么的之内之处乘坐乘客九十也多也希也未也给也被也许也都"
        "买社了严了之了也了二了保了全了劳了医了吧了呢了国了就了工了教了新了极了相了老予解争议事不事后事宜二期"
        "二级于一于国于这于进五个五条五险些不些老些问些领交付交费产业产安亲戚人了人代人以人到人命人对人就人已"
        "人所人能人还人进今后今未今没他说付了以各以理以解们交们从们住们作们却们又们可们向们工们应们强们很们所"
        "们找们无们村们解们认们该件中价的任公休年优势会出会发会是会给伤残估计但这位不低保低工住了住环体业体制"
        "体情体检体系何处作中作主作医作日作风依旧依规保厅保留信任修好候能值得假的做事停工偿金像我儿的元以元左"
        "元钱先后克扣党中兢兢入的全事全可全家全没全额八年公益公立六十共计关停关工关怀关手关文关键其害典型养家"
        "再拖写的农业决的况是净的凌晨几万凭什出事出入分为切身划分划建判决利待利润到下到今到保到公到哪到国到家"
        "到市到期到相到社到西到该到退制的刺鼻前为前已前往办不办实办教办证加一加之加重务中务人动保动和动工勾结"
        "化工区一区不区和区工区建区开区政区教区是区有区物医学医师十七十四十条协会单元单独单的却一却要厂家厅的"
        "厕所原有去找县市县教县环县的县领又一又在又开又无又说反复发到发区发挥发有受了受伤受其受的变相只想可怜"
        "可笑台上台的右的号召号的司是司签吃饭各大合国合并同工同等名为名学名额后不后也后在后有后续后还向县向我"
        "向政员一员和员说周岁周末呼吸命的命财和一和中和开和有和省商和商户嚣张四条因我因是因素围墙国人国企国劳"
        "在为在了在人在今在其在单在去在岗在平在广在很在村在楚在生在省在经在编在自在路在都地位地处地段均为型的"
        "基地境的增长声称声音处置复我复的夏天外一外墙外省多久多名多大多岁多时多种大业大了大市天不天了天在天就"
        "太不太大夫妻夺了奉献奖励女的她们如有妻子始终姓名委市委政子一子上子不子就子是学一学不学位学历学学孩上"
        "它的安居安心完工定书宝贵实处实情实是实践审查客户客观客运宣布室的害人害者家不家住家小家教家相宿舍对不"
        "对人对学对小对方对该导下导关导反导在导您将会将近将这尊重小组少年少数就应就开就给就说就近就连局也局反"
        "屋的山村山镇岁了工一工医已是已被市中市人市级市镇市领师一师们师在师工师是师生帮帮常有年中年到年参年因"
        "年已年有年未年纪年老年西年起年进应付府主府对府给废气康的建局开业开会开办开裂开采异地式的引进当今当的"
        "彭厅得以得出得很微信心一心声心寒心小心情心脏态环怨声恐吓息时息的恶意想不想咨想想想要意味愤怒成一成严"
        "我与我从我再我到我当我打我提我相我真我认我问房价所学所得所的所知才发才是才有才知执业执照扩大批复抚养"
        "抢救护法报人担忧拖延招商招标拨打指示按国按时损坏排除接待接送推动推卸推脱搬迁摩托撤销收回收据收益收钱"
        "改为改的放了放弃政法教室数学数量文物文规新区新政无可无处无故无效无数无权无理无证日内日子日常日晚日的"
        "日至早就时开时是时都明天昨天是三是两是严是事是出是去是县是哪是应是把是教是正是用是省是给是让是通是非"
        "显然显的暑假暗箱曝光更为更大最基月初月后月至有上有专有为有何有其有十有合有哪有四有如有学有家有对有意"
        "有明有生有签有结有规有责有那有部望各望市望我期不未发未按未果未见本无本次机制机械村合村委条的条第来人"
        "来回来维来解极不极度构的果我染严查一查了查实查的校学校老样子案例棚户棚改楚雅楼房欠工次要次都款的正规"
        "此不此次此类歧视每周民不民住民族气公气的水电水质永远求不求是没钱河流法不法了法依法办法吗法是法治法部"
        "注意洗脑活费派人派遣流失流量济补深受游的点点然气照国物品物流物的特色牺牲现我现状班时理应理有理结理论"
        "生人生就生部生问用一用不用户用来用职由县由是病情痛苦癌症百万百元百分的乡的产的任的会的体的依的其的具"
        "的制的十的历的压的员的咨的困的外的多的失的局的张的强的很的承的提的支的整的日的本的每的气的治的流的特"
        "的王的用的病的百的福的私的积的精的维的网的药的设的请的调的负的财的进的部的需的青的项的黑监局监控盖章"
        "直以直是直未直至盼望省份省厅省委省环看病看见真不真相着一督管知书知是知的破产硬化私利称评程的程质空调"
        "窗户立了立案立的站在竟是章建竣工第六等不等多等方等相等级等问策和策是签名简直算了算是管一管了箱操类的"
        "系电级主级人级以级教级有级职纳了纳的纳社纸厂线教组成组村组的终止经不经是经有经验结束给人给学给您绝对"
        "统筹统计置业美丽老公老家者是而在而无而这职人职权职的联名育学育政背后能上能保能做能再能到能帮能报能看"
        "能管能自能进能通能重自主自动自愿自治般无色的节假花了花费若干苦苦英语药品药费虑到行不补发补缴被迫要上"
        "要加要向要进见到见的规则规收规章规行解到解答订的认识让老训机议的论是设局设工访局诈骗该校详细误的说有"
        "说话请书请人请你请教课的谁给调解财务责成账户贯彻贵的赚钱起到起的超出超市超生路交路灯踢皮身上身利身安"
        "身边车上车不车库车费转移较大辈子辞职达不达标近期还未还给还请还需这也这事这对这类远的远远违建违纪迟不"
        "送到适合适应适当逃避递交通行道上道办道有遗留那我那是那样都很酒店里去重破钱就钱财铁路长时门严门为门查"
        "门给门重问下间不间内间和附件际上陆续限期院住院医院和院有院长险一险费随便障厅障局难的集资雨天霸王面向"
        "面试须要颁发频发频繁题一风景风险食品饮用驾驶骗取高于高兴高达高额龄的",
    ),
    (
        5.0,
        "一两一体一再一刀一周一场一学一小一己一户一拖一时一月一看一组一群一辆一问万一万家万般三中三方三百上个"
        "上岗上当上来上海上游上百上要上诉上门下几下学下班不严不分不办不包不太不定不小不就不尽不幸不打不收不服"
        "不来不法不肯不良不解不论不该不超不进与劳与学与当且在且是且这业业业在业委业工业服业证业退两千两种严禁"
        "个个个乡个交个城个家个年个教个时个明个星个电个答个高中关中打中明中标中等中考丰富为严为全为其为准为名"
        "为小为工为已为政为教为没为生为百为谢为进为重主一主在主多主委主席举办举行久的么做么回么在么都义的之地"
        "之外之多之年之所之规之路乐业九月也从也已也曾习的乡亲乡政书的买一买单乱象了下了为了以了各了哪了小了市"
        "了无了有了本了没了生了电了维了该了还了那了问予的事关二孩二楼于加于开于当于此于民于西于解互相交流交警"
        "人上人之人从人做人出人只人可人名人情人接人提人看人群人自人被人要仅有今的今还仍未从不从中从去从此从这"
        "仔细他是以一以人以免以往以申以直以通们上们了们会们公们农们几们到们办们反们回们大们希们把们提们来们生"
        "们相们看们真们知们签件下件和件要件都价局任由任职份的休假休时众所优先优质伙食会一会对会影会被伤的似乎"
        "但一但却但因但现但至位为位应位是位职体不体职何人何以何况何的何解作物使得例如供了侵占便宜保持保缴保问"
        "信力修了修的倍的值班假期做一做不停业停了停产停电元不兄弟先生兑现党员兢业全问八条公众公信公用公章关资"
        "其余其次养猪养的养费再三再去再说写了农田冲突决方况且况如况的准是几家出不出口出钱出门出问分不分业分人"
        "分到刑事划局划的列的刚刚创造初衷到上到不到严到人到他到各到外到实到很到教到时到晚到本到法到省到自到达"
        "到过到那制性前一前后前是前来前退前途剩下办发加入加的动中动产动人动仲动用动能动车助我助的化学北路区改"
        "区管十个十点升学升级单方卖给南北南路却又却只却因却在却无厂污厅领厉打去一去上去办去学又被及到及周及家"
        "反国发一发改取证受不受国受损口号口镇台了史文司上司对司违各乡各部同是同虚同酬名叫名城名称后代后经向省"
        "否认否还听证吸引告中告人员进味着命健和不和个和县和发和地和安和市和建和教和法和物和环和相和管品的唯独"
        "商不商在商引四五因不因工团结园林困扰国法土局在三在业在于在农在出在原在发在各在同在城在如在实在居在新"
        "在最在每在水在法在现在社在老在里地居地开地村地铁场一均未坑坑坑洼城小域内基于堆放塘村塘镇境内境影声载"
        "处分处都备的复印外打多不多么多多多学多小大厦大安大影大面天到天后天是天理天还太差失望头文奈之奋斗女性"
        "她的好像好我如实妄为妇幼姓做委县委领娱乐婴儿子有孕妇学前学和学毕学籍学高孩都安宁安局完了官方定中定价"
        "宝宝实名实实实属实解室内家和家在家对家工家糊寒心对他对公对接寻求导不导对导帮导来导督导解导说将有将来"
        "将该少了少钱尚未就出就去就想就我就把尽管局办局局局工局是局有局没局给局面居乐居委属的山绿工不工会工具"
        "工养工单工和工在差的已于已将已达已过市公市县师和师就常感平安平时年义年也年内年发年国年才年教年满年被"
        "年还并于并发并要并非广州应为应对底层府一府不府出府办府反府在府是度不康复廉租延长建一建于建材开招开支"
        "开窗开设开车开门开除引资张厅强的当中当于录音形同征求很少律和律责得好得我得起得这循环心医心理心血忍受"
        "快解怀孕怎能怒不急需性化性和您百情形想一想办想着成年成果我个我为我了我今我作我做我儿我办我名我女我对"
        "我将我带我很我把我无我曾我本我签我被我觉我该我都或是截止户业户区户居房不房和房改房管所作才可打算托车"
        "扣除扩建扰您扶持扶贫批的找了找谁承受技能投标护人护士护自报了报的报警报酬担责拖了拖再招收招考拨款拿了"
        "持生挂靠指挥换了据中据了据的掉了排在接排提下提到提示搞好搞得搞的搪塞收房改建改正改进放开政不政发政执"
        "政治政管救我教书教的敢怒敢言数人数的断了新城新开新房方可方政方都施方无一无关无助无所无能无音既不日出"
        "日制日向日夜日开时才时没时至时还明了明城明年明查明目明知易书映了映过是与是交是今是住是做是农是几是到"
        "是医是只是同是城是外是太是家是就是属是工是市是希是强是打是指是民是水是生是相是社是第是该是还是重是长"
        "是问是高景点暴利更没月不月中月二月以月在月就月我月才月都有下有交有享有以有企有住有余有做有到有医有国"
        "有安有害有影有文有更有正有理有看有着有考有能有补有许有达有过有进有违有通有领望得望教期内期工未得本养"
        "本小本科术人权和权证村小村干杜绝条明条路来后来处来承来管来给极性果这查到查此栋楼校内校和校招校方校是"
        "样做样对样是核定核心核查案的桥村楚人楚政楼上楼层欠我次与次去次发次在次投款项此处此种此项段的毒气比我"
        "毕竟民主民事民在民心民意民用民都气体气污气管水不水公水和水土水库求人求公求学求您求有求领江西没发没得"
        "没想没收没法河西法享法保法合法实法局法开法正法第法维注明活用洼洼消除涨价深圳深深清单渎职游局满了滥用"
        "火灾点左烈的然就然有然还爷爷片区牵头特此犯了独立猪场猫腻王条环节现代现如现年现的班级班费理何理合理和"
        "理处理念理性理想理房理此理这理退生之生二生后生学生安生政生是生有生考用房用电由不由政电力电子电费留问"
        "疑惑疗机疾人的临的义的了的五的亲的今的代的休的伤的儿的加的协的卫的厅的反的只的呼的场的培的士的女的威"
        "的官的客的尊的帮的平的幼的应的恶的户的批的旅的明的普的未的杨的校的楼的母的没的活的游的申的直的知的确"
        "的科的程的红的绿的美的能的良的花的认的评的贡的辛的错的长的陈的面的风的马盈利目标直都相同相比省中省公"
        "省劳省工省社看出看我看来真心着实着急睡眠督办督查知名知要石场砖厂破烂础设示的社部秀的种行种违租给租赁"
        "移交程师程款站上笔者笔试第七第八等人等地等有答案策规签了签署管是管这糊口系到紧张红头级医纪律纳税结婚"
        "结算结论给业给小给市统的绩效续工绿灯绿色置之置的老有考察考的者一者在而已而来而现而知而言职务职员聘用"
        "聘请肆意育人育工育法胆大背景胜感能出能及能将能尽能开能引能把能按能正能用能的能认脏病舒适艰难艺术花钱"
        "获取营企营的营运蒋厅虚设血压血管行公行医行规行调行走衍了补交补充表明表的表面被他被评被这被骗裂缝西路"
        "要么要做要再要多要大要学要将要开要找要来要用要经要说要重要钱覆盖见不视为视台视同角度解放讨回让学让这"
        "记的记者设想设项证和评为评定诉人诉到诉的试成话不话说该如该有该院说一说出说在说现请厅请县请各请给诸多"
        "课教课老课费调动调研责的货车购物贵局费为费都资产资力资待资是资本起码起诉跑了路两路和路是路段路边身的"
        "车位车司车在车场车道车都转到转学转让载道辅导辐射辖区辛辛达的过任过几过期过这近两还存还得还老这件这方"
        "这段这项进城进展进度进步远不退回退的适的选址透明通老通运速公造假造的道了道和道而遭到遭遇遵守那一那种"
        "那边都发都市都得都快都未里就重危重复重扰重超量不量和金中金和金是金贷鉴于钱不销组镇一镇上镇人镇卫镇居"
        "长一长为长你长和长热长说门依门出门及门在门尽门应门是门监门责门进门都问领间有闻不阅读防止防治阳台阻碍"
        "限责院一院不院做院办院方险和险金随后隐瞒隔壁障部青年青春非要靠近面一面上面也面前面是革的项工项的颁布"
        "预防题不题就额的风气风雨骨折高一高了高价高峰鼻的",
    ),
    (
        5.25,
        "一元一口一回一处一届一带一开一把一无一日一来一查一款一股一边七八七年丈夫三分三无三点上两上任上加上十"
        "上升上发上次上缴上车下放不与不怕不执不提不放不禁不稳不经不被不退与业与开与社与计且一业发业学业局业是"
        "业用东方两家两岸两百个医个市个政个普个行个非个项中也中发中对中就中教中旬中是串通临床为业为保为合为在"
        "为城为市为广为所为社为西为该主不主自丽的么事么处么好么有之时之类之风九条也为也出习惯乡人乡居乡建书上"
        "买不买卖乱了乱作了上了中了什了养了原了在了巨了政了现了经了西了近了退了重予我事了事求事责事部二点于中"
        "于以于公于在于城于对于政于无于本于社于请五六五千五百些学些部些都交到交待交涉亲人人人人住人体人关人及"
        "人发人因人均人平人收人无人理人知人签人类人认人过人问亿元今为今我今都仍在从业从没仓库他不付款代理以了"
        "以享以保以发以实以提以法以生以看以自以致以补以这以重以随们与们买们再们出们县们同们如们安们广们恳们才"
        "们打们本们用们给们西们辛件是价部任和份开休了休后休手休老优化会人会各会员会成会抚会更会计似的但为但该"
        "位一位也位人位同位有住宿住进体村体验何一何办何去何要余元余的作不作假作和作岗作年作经你不你说侵权保卡"
        "保政保费信用信的修复修路偏远做过停的健全偷工偿的元每先是先进光荣入口入小入户入职入调全无全日全民八大"
        "公租关爱关联其恶具的内退再生写信决好净土减料几分出以出示刀切分公分文分析分管切的划设创业利和利息到三"
        "到中到五到全到医到工到应到您到房到最到村到目到高前也前在前年前有前还副主力不力支办工加油务局务派务管"
        "务部劣的动不动争动力动员动场动部助金包含包庇化名化带区中区公区在区现区电区里医务十九十余十字协助占地"
        "占道卧室即可却以却说卸责厂排厂是厚的厨房去做去医去向去看县一又怎又能及以及社反正发下发帖发表发达取一"
        "取措变为变了口与只收只需可否可在可查司与司为司也司以司和司已司开司无司没司要各方各界合下合的合适同程"
        "同约名下名人名在名字名校后发后台后期后被向各向相否属否能员也员却员告员来周知味的和劳和医和小和平和改"
        "和新和村和老和职和补和西和解和财和领响居响的哪一商铺善处善解噪声回了回我因本团的团队围的国内国各国文"
        "国道图片在下在乡在事在以在任在保在做在党在内在几在前在基在多在天在您在想在房在改在无在考在街在要在规"
        "在过在高地使地调场价均不均工均已均无均每坐车坪村域的基数堪忧堵塞境下复为复杂多一多地多天多收多是多都"
        "多钱夜间够重大中大于大半大楼大气大约大问天价天又天早天晚天要太高失职头上头的奈何套设女孩女方女证她说"
        "好地好政如不妇女姓生委的子也子和子孙子里季节学了学区学在学子学就学质学都守法完小定和定工定我定有定结"
        "实上实不实为实力实质客服客的害我家发家计家门富的对一对下对政对本对的导及导干导意导明导还封信将其小城"
        "小车就像就发就变就因就好就此就直就那局为局回局已局投局说局都层层层楼屋质展和山区山水山的岗的工减工同"
        "工就工时工有工签工都巨额己去已不已在市容市建市环市管市规布局师法师职师范师都师队帐户带动带领常发常大"
        "常工干什干嘛平衡年交年全年出年又年只年大年春年检年生年退并依并对并将并按并无幼保广西序的应国底下底有"
        "店的府也府公府关府提府要废水度恶庭生廉价建在建工开一开具开区开户异常异议引导张胆强势当一当面录用形势"
        "待我很难很高律依得一得已得超心希忙解快乐总体总经恶心恶性恶臭您是情权惠政想去想在想象意外意愿成不成人"
        "成员成这我交我代我住我公我出我可我回我孩我应我找我来我解我请战略户人房一房合房后房是房间所不所为所养"
        "所周所属所长手中手里打不打听打开打的执政扬言批示承建护理报到报复抽出担当拖到拥堵拿不损毁排名排的接电"
        "接着推广推荐搞不摆设收一收合改了改委改成放学政处政工政机效益救救救治敢开数不数十数百文章料的断为新增"
        "方一方不方针施行施设无疑无良无辜日到日发日后日益时出时刻时可时处时解时说明察明是明细映一是下是企是何"
        "是利是天是实是将是所是文是明是电是空是能是过是需是黑暂停暂时暂行曾在最好最少有严有中有事有二有依有参"
        "有和有地有失有实有就有开有心有必有想有提有新有机有消有用有电有病有社有网有职有自有被有证有说有车有高"
        "期为期在期开期望未与未办未成未有未达未进本县本工本市本想本法本生本质术学机器机场机的权行李局村一村建"
        "来为来在来这极为果的果说染了查不查查查核查清查阅栋的树木校外校就校门株潭样不案是森林楼下次上次会次出"
        "次协次打款规正面此为此大此时此的母官每户民为民也民出民和民多民对民无民楼民营民身民间水也水利水处水直"
        "求下求市求相江镇沉重没用没给没见河水河道河里油烟治安治病沿线法和法外法委法对法建法犯法理法追注此活就"
        "活补流入流动流水济发消了深感清水渗水温暖溪村滚滚激不灌溉灵活点半点工点都焚烧然在然我然的然违照规爱心"
        "爱的牌的物保物权物管特请环卫现将现就现金班上班工班车理一理上理中理所理睬理要理规理诉理问生中生儿生厅"
        "生及生室生源生物生生生病用在用我用这用途由我由拒电动留守疗事病历痛心白白白的百年百米的举的乱的修的停"
        "的入的切的刘的到的努的区的参的双的变的呢的周的噪的增的声的太的存的少的岗的干的必的快的排的更的来的根"
        "的河的清的温的燃的状的独的班的疑的稳的签的范的营的表的角的运的选的金的难益不益性监测监理目张目部直排"
        "相反相差省城省建省有省直省都眼看着不着想知晓础上神经票价离不私立种原种方种理科室科长租金积蓄称是税人"
        "税务立学笑的笔钱等了等部筑物算不管执管领粮食精力系户繁荣红包级公级学级工级文纪念织的经办经发经在经成"
        "经被结扎给孩给政绝不绝大缓解缺少老乡考上者不而他耐心职教肃处育主育保育教育行能实能拿能提能达自习自谋"
        "臭味至连致了致的般的艰苦苑小苦了范性荣誉营养营者落到行一行严行查行车行驶衔接衣服补办表达被无要为要公"
        "要出要办要原要工要建要按要给要自要补要被规操视国视我觉到解的订立讨论让孩训班训的记为讲话设中设和证实"
        "评价识的诉电诉讼试用试行诚信话就询一询了该局该由语文误导说什说可说已说过说还请不请严请了请公请西课程"
        "谁能调会谋取谐的谐社谢了谢你质监费也费后费就费现费等费问资不资为资发资都赋予走在超载趋势足够足的跪求"
        "路公路都践踏身为车主车停车公车牌轨道软件较多较好辛勤达成过不过分过道运作近入这三这份这块这时这让这还"
        "这部这难远离连接迫于迫切选人逐渐通事通公通工通车造福遇问道一道也道交道他道要邀请那天部人都一都只都还"
        "配备配的采纳里也里来里还重了重伤重侵重威金不金属钱一钱买钱去钱是铺镇错了长不长在长年长株长能长都门一"
        "门予门介门外门就门批门投门有门来门槛门管门调问他问市问是问西问责间了间我间是间过队的防水防通附属陈书"
        "陈局限定限的院也院关院提院领除我险待险条障碍难免难度难题革开音乐音信顶风须有领到领域题为额外风光餐饮"
        "饮水骗老高人高出高新高楼高温高血鱼虾黄金黑的默默",
    ),
)
