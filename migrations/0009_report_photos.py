from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_reports')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReportPhoto',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('public_id', fields.CharField(unique=True, max_length=16)),
                ('report', fields.ForeignKeyField('models.Report', source_field='report_id', db_constraint=True, to_field='id', related_name='photos', on_delete=OnDelete.CASCADE)),
                ('sha256', fields.CharField(description='Digest of the stored JPEG, its key in the photo store.', max_length=64)),
                ('width', fields.IntField()),
                ('height', fields.IntField()),
                ('bytes', fields.IntField(description='Size of the stored JPEG.')),
                ('uploader_id', fields.BigIntField(description='The account that uploaded it.')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'report_photo', 'app': 'models', 'unique_together': (('report', 'sha256'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
