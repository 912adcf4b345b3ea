"""The seeded register's scheme: a seeded bike's frame number and plate follow from its index i, its owner's
ID number, phone and name from the owner's index k, and a bench resident's identity from the resident's r."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity.validators import make_id_number

MAX_BIKES = 5_000_000  # the plate and ID-number schemes below stay unique up to here

# The seeded register: everything follows from the bike's index i and the owner's index k ----------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅文辉鹏飞宇航晨欣怡子涵浩然"
BRANDS = ("雅迪", "爱玛", "台铃", "小牛", "新日", "绿源", "九号", "立马")
MODELS = ("DE2", "A5", "T9", "G2", "F90", "N1S", "Q7", "")
COLOURS = ("白色", "黑色", "红色", "蓝色", "灰色", "银色", "绿色")
SEED_REGIONS = ("440311", "440306", "440309", "440307")  # Guangming, Bao'an, Longhua, Longgang
BENCH_REGION = "440310"  # residents who register during the bench: never a seeded owner's number


def owner_of(i: int) -> int:
    """Owners hold 1, 2 and 3 bikes in turn: bikes 0 | 1 2 | 3 4 5 belong to owners 0 | 1 | 2, and so on."""
    group, r = divmod(i, 6)
    return 3 * group + (0 if r == 0 else 1 if r < 3 else 2)


def first_bike_of(k: int) -> int:
    group, r = divmod(k, 3)
    return 6 * group + (0, 1, 3)[r]


def frame_no(i: int) -> str:
    return f"LGM{i:011d}"


def plate(i: int) -> str:
    return f"光明{i:07d}"


def owner_id_number(k: int) -> str:
    day, seq = divmod(k, 1000)
    birth = dt.date(1955, 1, 1) + dt.timedelta(days=day)
    return make_id_number(SEED_REGIONS[day % len(SEED_REGIONS)], birth, f"{seq:03d}")


def owner_phone(k: int) -> str:
    return f"139{k:08d}"


def owner_name(k: int) -> str:
    name = SURNAMES[k % len(SURNAMES)] + GIVEN[(k // len(SURNAMES)) % len(GIVEN)]
    return name + GIVEN[k % 7 * 5 % len(GIVEN)] if k % 3 else name


def resident_identity(r: int) -> dict[str, str]:
    """The identity a bench resident registers with (distinct from every seeded owner's)."""
    day, seq = divmod(r, 1000)
    id_number = make_id_number(BENCH_REGION, dt.date(1990, 1, 1) + dt.timedelta(days=day), f"{seq:03d}")
    return {"name": owner_name(r + 7), "id_number": id_number, "phone": f"138{r:08d}"}
