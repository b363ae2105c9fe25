"""The $default route: anything the other routes do not take."""


def handler(event, context):
    return {"statusCode": 404, "body": f"nothing at {event['rawPath']}"}
