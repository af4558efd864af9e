# Password login from the app's server for the end user at $END_USER_IP, the client
# authenticating with client_secret_post (its id and secret in the form body).
curl --silent --show-error --include "$PASSGATE_URL/oauth/token" \
    --header "auth0-forwarded-for: $END_USER_IP" \
    --data-urlencode "grant_type=password" \
    --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$CLIENT_SECRET" \
    --data-urlencode "username=$LOGIN_USERNAME" \
    --data-urlencode "password=$LOGIN_PASSWORD" \
    --data-urlencode "audience=$API_AUDIENCE" \
    --data-urlencode "scope=openid profile email offline_access"
