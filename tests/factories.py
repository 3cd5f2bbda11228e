import factory

from django_jobs.models import FuncMap, Job, JobRun, Worker


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


class WorkerFactory(factory.django.DjangoModelFactory):
    """A row of the worker registry, live unless told otherwise."""

    class Meta:
        model = Worker

    worker_id = factory.Sequence(lambda n: f"host-a:{1000 + n}:w{n}")
    host = "host-a"
    pid = factory.Sequence(lambda n: 1000 + n)
    queues = factory.LazyFunction(list)
    concurrency = 8
