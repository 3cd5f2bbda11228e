import factory

from django_jobs.models import FuncMap, Job, JobRun


class FuncMapFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FuncMap
        django_get_or_create = ("path",)

    path = "tests.testapp.jobs.add"


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    func = factory.SubFactory(FuncMapFactory)
    args = factory.LazyFunction(lambda: [1, 2])
    kwargs = factory.LazyFunction(dict)
    queue_name = "default"


class JobRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobRun

    job = factory.SubFactory(JobFactory)
    attempt = 1
    worker_id = "factory-worker"
