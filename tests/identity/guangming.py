"""Guangming District's official hierarchy, typed here apart from the shipped file (the expectation)."""

from __future__ import annotations

# What 国家统计局's 2023 statistical division codes (统计用区划代码) say, typed here apart from the
# shipped file: the official street order, and each street's communities in their official order.
GUANGMING = {
    "光明街道": ["光明", "碧眼", "东周", "白花", "翠湖", "迳口"],
    "公明街道": ["公明", "上村", "李松蓢", "下村", "西田"],
    "新湖街道": ["新羌", "楼村", "圳美"],
    "凤凰街道": ["甲子塘", "东坑", "塘尾", "塘家", "凤凰"],
    "玉塘街道": ["田寮", "玉律", "长圳", "红星"],
    "马田街道": ["薯田埔", "合水口", "根竹园", "马山头", "石围", "将围", "石家", "新庄"],
}


def expected_nodes() -> dict[str, tuple[str, str, str | None, str]]:
    """code -> (name, level, parent, division code)."""
    nodes: dict[str, tuple[str, str, str | None, str]] = {"GM": ("光明区", "district", None, "440311")}
    for s, (street, communities) in enumerate(GUANGMING.items(), start=1):
        nodes[f"GM{s:02d}"] = (street, "street", "GM", f"440311{s:03d}000")
        for c, community in enumerate(communities, start=1):
            nodes[f"GM{s:02d}{c:02d}"] = (community + "社区", "community", f"GM{s:02d}", f"440311{s:03d}{c:03d}")
    return nodes
