from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_open311_clients')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CategoryFeedback',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report_id', fields.BigIntField(unique=True)),
                ('text', fields.TextField(unique=False)),
                ('category_key', fields.CharField(max_length=32)),
                ('suggested_key', fields.CharField(null=True, max_length=32)),
                ('corrected', fields.BooleanField(default=False)),
                ('actor', fields.CharField(max_length=64)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'clinic_category_feedback', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportInsight',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report_id', fields.BigIntField(unique=True)),
                ('suggested_category_id', fields.IntField(null=True, description='Null below the confidence threshold.')),
                ('confidence', fields.FloatField(null=True)),
                ('model_version', fields.CharField(default='', description='Empty when no model was loaded.', max_length=32)),
                ('group_id', fields.BigIntField(null=True, db_index=True, description='Id of the first report of its group.')),
                ('similarity', fields.FloatField(null=True, description='To the report that put it in the group.')),
                ('node_path', fields.CharField(db_index=True, max_length=255)),
                ('analysed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'clinic_report_insight', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
