# A new access token for the refresh token of a login ($REFRESH_TOKEN); the answer holds
# the next refresh token (the one sent can no longer be used).
curl --silent --show-error --include "$PASSGATE_URL/oauth/token" \
    --header "auth0-forwarded-for: $END_USER_IP" \
    --data-urlencode "grant_type=refresh_token" \
    --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$CLIENT_SECRET" \
    --data-urlencode "refresh_token=$REFRESH_TOKEN"
