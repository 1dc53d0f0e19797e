from annotator_web.core.policy import role_of


def role(request):
    return {"role": role_of(getattr(request, "user", None))}
