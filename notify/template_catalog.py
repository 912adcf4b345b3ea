"""What each event says on each channel: the product's message templates, in Chinese.

Registered in ``notify.templates`` (the registry, its formatting and WeChat's field limits), which
imports this module; a feature that adds an event adds its template here.
"""

from __future__ import annotations

from notify.templates import Template, WeChatSpec, register

register(
    Template(
        key="ebike.stolen",
        title="电动车被盗报警",
        required=("bike", "lost_at", "location", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{bike}"), ("time2", "{lost_at:time}"), ("thing3", "{location}"), ("phrase4", "已报警")),
            "pages/ebike/alarm?id={alarm_id}",
        ),
        sms_params=("{bike}", "{lost_at:time}", "{location}"),
        sms_text="电动车{1}于{2}在{3}附近报失被盗，请留意。",
        email_subject="电动车被盗报警：{bike}",
        email_body="电动车 {bike} 于 {lost_at:time} 在 {location} 附近报失被盗。\n报警编号：{alarm_id}",
    )
)
register(
    Template(
        key="ebike.sighted",
        title="被盗电动车被发现",
        required=("bike", "seen_at", "place", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{bike}"), ("time2", "{seen_at:time}"), ("thing3", "{place}"), ("phrase4", "已发现")),
            "pages/ebike/alarm?id={alarm_id}",
        ),
        sms_params=("{bike}", "{seen_at:time}", "{place}"),
        sms_text="您报失的电动车{1}于{2}在{3}被执法人员扫码发现，请留意后续通知。",
        email_subject="被盗电动车被发现：{bike}",
        email_body="报失的电动车 {bike} 于 {seen_at:time} 在 {place} 被执法人员扫码发现。\n报警编号：{alarm_id}",
    )
)
register(
    Template(
        key="ebike.found",
        title="电动车报警已撤销",
        required=("bike", "at", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{bike}"), ("time2", "{at:time}"), ("phrase3", "已找回")),
            "pages/ebike/alarm?id={alarm_id}",
        ),
        sms_params=("{bike}", "{at:time}"),
        sms_text="电动车{1}的被盗报警已于{2}由车主撤销（已找回）。",
        email_subject="电动车报警已撤销：{bike}",
        email_body="电动车 {bike} 的被盗报警已于 {at:time} 由车主撤销（已找回）。\n报警编号：{alarm_id}",
    )
)
register(
    Template(
        key="ebike.transferred",
        title="电动车过户",
        required=("bike", "direction", "at", "bike_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{bike}"), ("phrase2", "{direction}"), ("time3", "{at:time}")),
            "pages/ebike/detail?id={bike_id}",
        ),
        sms_params=("{bike}", "{direction}", "{at:time}"),
        sms_text="电动车{1}已办理过户（{2}），时间{3}。旧电子身份码已作废。",
        email_subject="电动车过户：{bike}",
        email_body="电动车 {bike} 已办理过户（{direction}），时间 {at:time}。旧电子身份码已作废。",
    )
)
register(
    Template(
        key="report.updated",
        title="诉求办理进展",
        required=("report_no", "state", "at", "report_id"),
        wechat=WeChatSpec(
            "subscribe",
            (
                ("character_string1", "{report_no}"),
                ("phrase2", "{state}"),
                ("time3", "{at:time}"),
                ("thing4", "{note}"),
            ),
            "pages/report/detail?id={report_id}",
        ),
        sms_params=("{report_no}", "{state}"),
        sms_text="您的诉求{1}有新进展：{2}。请在小程序查看。",
        email_subject="诉求 {report_no} 办理进展：{state}",
        email_body="您的诉求 {report_no} 于 {at:time} 更新为：{state}。\n{note}",
        extra={"defaults": {"note": "请在小程序查看详情"}},
    )
)
register(
    Template(
        key="report.overdue",
        title="诉求超时督办",
        required=("report_no", "state", "deadline", "node", "report_id"),
        # Staff work in the mini-program: their accounts carry its openid, not an official account's.
        wechat=WeChatSpec(
            "subscribe",
            (
                ("character_string1", "{report_no}"),
                ("thing2", "{state}"),
                ("time3", "{deadline:time}"),
                ("thing4", "{node}"),
            ),
            "pages/grid/report?id={report_id}",
        ),
        sms_params=("{report_no}", "{state}", "{deadline:time}"),
        sms_text="诉求{1}（{2}）已超过办理时限{3}，请尽快督办。",
        email_subject="超时督办：诉求 {report_no}",
        email_body="诉求 {report_no} 处于“{state}”，已超过办理时限 {deadline:time}，已升级至 {node}。",
    )
)
register(
    Template(
        key="sensor.alarm",
        title="燃气烟感报警",
        required=("device", "place", "level", "at"),
        wechat=WeChatSpec(
            "template",
            (("thing1", "{device}"), ("thing2", "{place}"), ("thing3", "{level}"), ("time4", "{at:time}")),
            "pages/device/alarm",
        ),
        sms_params=("{device}", "{place}", "{level}"),
        sms_text="{1}在{2}发出{3}报警，请立即处置。",
        email_subject="设备报警：{device}（{level}）",
        email_body="{device} 于 {at:time} 在 {place} 发出报警，级别：{level}。请立即处置。",
    )
)
register(
    Template(
        key="device.alarm",
        title="家中设备报警",
        required=("device", "what", "level", "at", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{device}"), ("thing2", "{what}"), ("phrase3", "{level}"), ("time4", "{at:time}")),
            "pages/device/alarm?id={alarm_id}",
        ),
        sms_params=("{device}", "{what}", "{level}"),
        sms_text="您家中的{1}发出{2}报警（{3}），请立即查看并处置，必要时开窗通风、远离火源并拨打119。",
        email_subject="设备报警：{device}（{level}）",
        email_body="您家中的 {device} 于 {at:time} 发出“{what}”报警，级别：{level}。请立即查看并处置。",
    )
)
register(
    Template(
        key="device.alarm_cleared",
        title="设备报警已解除",
        required=("device", "what", "level", "at", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{device}"), ("thing2", "{what}"), ("phrase3", "已解除"), ("time4", "{at:time}")),
            "pages/device/alarm?id={alarm_id}",
        ),
        sms_params=("{device}", "{what}"),
        sms_text="您家中的{1}的{2}报警已解除。",
        email_subject="设备报警已解除：{device}",
        email_body="您家中的 {device} 的“{what}”报警已于 {at:time} 解除。",
    )
)
register(
    Template(
        key="device.alarm_escalated",
        title="设备报警无人确认",
        required=("device", "what", "level", "at", "node", "alarm_id"),
        # Staff, in the mini-program: an alarm nobody acknowledged in time, escalated to them.
        wechat=WeChatSpec(
            "subscribe",
            (
                ("thing1", "{device}"),
                ("thing2", "{what}"),
                ("phrase3", "{level}"),
                ("time4", "{at:time}"),
                ("thing5", "{node}"),
            ),
            "pages/grid/device-alarm?id={alarm_id}",
        ),
        sms_params=("{node}", "{device}", "{what}"),
        sms_text="{1}辖区{2}的{3}报警无人确认，请立即处置。",
        email_subject="设备报警无人确认：{device}（{level}）",
        email_body="{node} 辖区的 {device} 于 {at:time} 发出“{what}”报警（{level}），至今无人确认，请立即处置。",
    )
)
register(
    Template(
        key="device.alarm_group",
        title="设备报警汇总",
        required=("building", "count", "level", "at"),
        # Further alarms about one building within a window after the first message: one message.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{building}"), ("number2", "{count}"), ("phrase3", "{level}"), ("time4", "{at:time}")),
            "pages/device/alarms",
        ),
        sms_params=("{building}", "{count}", "{level}"),
        sms_text="{1}又有{2}条设备报警，最高级别{3}，请在小程序查看并处置。",
        email_subject="设备报警汇总：{building}（{count} 条）",
        email_body="截至 {at:time}，{building} 又有 {count} 条设备报警，最高级别：{level}。请在小程序查看并处置。",
    )
)
register(
    Template(
        key="device.binding",
        title="设备绑定申请结果",
        required=("device", "result", "at", "request_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{device}"), ("phrase2", "{result}"), ("time3", "{at:time}")),
            "pages/device/binding?id={request_id}",
        ),
        sms_params=("{device}", "{result}"),
        sms_text="您申请绑定的{1}审核{2}，详情请在小程序中查看。",
        email_subject="设备绑定申请{result}：{device}",
        email_body="您于光明e证申请绑定的 {device} 已于 {at:time} 审核{result}。详情请在小程序中查看。",
    )
)
register(
    Template(
        key="checkpoint.fever",
        title="体温异常提醒",
        required=("place", "at"),
        wechat=WeChatSpec("template", (("thing1", "{place}"), ("time2", "{at:time}")), "pages/grid/checkpoint"),
        sms_params=("{place}", "{at:time}"),
        sms_text="{1}卡口于{2}出现体温异常，请及时处置。",
        email_subject="体温异常提醒：{place}",
        email_body="{place} 卡口于 {at:time} 出现体温异常，请及时处置。",
    )
)
register(
    Template(
        key="checkin.stop",
        title="卡口拦截提醒",
        required=("place", "at", "reason"),
        # Grid and health staff: the place, the time and the reason category; never who, nor health details.
        wechat=WeChatSpec(
            "subscribe", (("thing1", "{place}"), ("time2", "{at:time}"), ("thing3", "{reason}")), "pages/grid/checkins"
        ),
        sms_params=("{place}", "{at:time}", "{reason}"),
        sms_text="{1}卡口于{2}拦截一人（{3}），请及时到场处置。",
        email_subject="卡口拦截提醒：{place}",
        email_body="{place} 卡口于 {at:time} 拦截一人，原因类别：{reason}。请及时到场处置，详情请在小程序查看。",
    )
)
register(
    Template(
        key="checkin.stop_person",
        title="卡口通行提示",
        required=("place", "at"),
        # The wearer: what to do next, no diagnosis.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{place}"), ("time2", "{at:time}"), ("thing3", "请联系社区健康服务中心")),
            "pages/health/index",
        ),
        sms_params=("{place}", "{at:time}"),
        sms_text="您于{2}在{1}卡口未能通行。请前往或致电所在社区健康服务中心，按工作人员指引办理。",
        email_subject="光明e证：卡口通行提示",
        email_body=("您于 {at:time} 在 {place} 卡口未能通行。请前往或致电所在社区健康服务中心，按工作人员指引办理。"),
    )
)
register(
    Template(
        key="police.lookup_limit",
        title="查询超限提醒",
        required=("officer", "count", "at"),
        wechat=WeChatSpec(  # administrators, in the mini-program like the other staff
            "subscribe", (("thing1", "{officer}"), ("number2", "{count}"), ("time3", "{at:time}")), "pages/admin/audit"
        ),
        sms_params=("{officer}", "{count}"),
        # One budget for police and health staff (owner lookups, person searches, traces): the text names
        # the account, not a rank.
        sms_text="工作人员{1}一小时内个人信息查询达{2}次，已被拒绝，请核查。",
        email_subject="个人信息查询超限：{officer}",
        email_body=(
            "工作人员 {officer} 于 {at:time} 前一小时内的个人信息查询（车主、人员、轨迹）达 {count} 次，"
            "超出的查询已被拒绝，请在审计日志中核查。"
        ),
    )
)
register(
    Template(
        key="identity.id_number_changed",
        title="身份证号码更正通知",
        required=("at",),
        wechat=WeChatSpec(
            "subscribe", (("thing1", "您的身份证号码已由工作人员更正"), ("time2", "{at:time}")), "pages/me/profile"
        ),
        sms_params=("{at:time}",),
        sms_text="您在光明e证登记的身份证号码已于{1}由工作人员更正。如非本人办理，请尽快联系社区工作站。",
        email_subject="光明e证：身份证号码更正通知",
        email_body="您在光明e证登记的身份证号码已于 {at:time} 由工作人员更正。如非本人办理，请尽快联系社区工作站。",
    )
)
register(
    Template(
        key="welfare.match",
        title="惠民政策提醒",
        required=("policy", "policy_id", "at"),
        # The policy's name only: never the amount, incomes or anything else of the household.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{policy}"), ("thing2", "您可能符合条件，点击查看申请指引"), ("time3", "{at:time}")),
            "pages/welfare/guide?policy={policy_id}",
        ),
        sms_params=("{policy}",),
        sms_text="根据您在光明e证保存的家庭情况，您可能符合「{1}」，请在小程序查看申请指引。",
        email_subject="光明e证：您可能符合「{policy}」",
        email_body="根据您保存的家庭情况，您可能符合「{policy}」。请在光明e证小程序查看申请条件、所需材料和申请渠道。",
    )
)
register(
    Template(
        key="job.seeker_update",
        title="求职进展",
        required=("posting", "enterprise", "step", "at", "application_id"),
        # The seeker: the posting and the enterprise (public), the step; nothing of the employer's notes.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{posting}"), ("thing2", "{enterprise}"), ("phrase3", "{step}"), ("time4", "{at:time}")),
            "pages/jobs/application?id={application_id}",
        ),
        sms_params=("{enterprise}", "{posting}", "{step}"),
        sms_text="{1}的“{2}”岗位：{3}。请在光明e证小程序查看。",
        email_subject="求职进展：{posting}（{step}）",
        email_body="{enterprise} 的“{posting}”岗位于 {at:time} 更新：{step}。请在光明e证小程序查看详情。",
    )
)
register(
    Template(
        key="job.employer_update",
        title="岗位应聘动态",
        required=("posting", "candidate", "step", "at", "posting_id"),
        # The employer: a masked name only once the seeker applied or accepted, otherwise the candidate id.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{posting}"), ("thing2", "{candidate}"), ("phrase3", "{step}"), ("time4", "{at:time}")),
            "pages/employer/applications?posting={posting_id}",
        ),
        sms_params=("{posting}", "{candidate}", "{step}"),
        sms_text="您发布的“{1}”岗位：求职者{2}{3}。请登录光明e证查看。",
        email_subject="岗位应聘动态：{posting}（{step}）",
        email_body="您发布的“{posting}”岗位于 {at:time} 有新动态：求职者 {candidate} {step}。请登录光明e证查看。",
    )
)
register(
    Template(
        key="job.match",
        title="新职位推荐",
        required=("title", "salary", "distance", "posting_id", "at"),
        # The posting's title, pay and a distance band only: nothing of the seeker (no name, skills, home).
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{title}"), ("thing2", "{salary}"), ("thing3", "{distance}"), ("time4", "{at:time}")),
            "pages/jobs/posting?id={posting_id}",
        ),
        sms_params=("{title}", "{salary}"),
        sms_text="有新职位「{1}」（{2}）与您的求职意向相符，请在光明e证小程序查看。",
        email_subject="光明e证：新职位「{title}」",
        email_body="有新职位与您的求职意向相符：「{title}」，{salary}，离您{distance}。请在光明e证小程序查看职位详情；"
        "不想再收到推荐，可在求职资料中关闭新职位提醒。",
    )
)
register(
    Template(
        key="notify.test",
        title="测试消息",
        required=("at",),
        wechat=WeChatSpec("subscribe", (("thing1", "光明e证测试消息"), ("time2", "{at:time}")), "pages/index/index"),
        sms_params=("{at:time}",),
        sms_text="光明e证测试消息，发送时间{1}。",
        email_subject="光明e证测试消息",
        email_body="这是一条测试消息，发送时间 {at:time}。",
    )
)
